"""Fixtures of the detector tests: the tiny models, built once per module, on one thread."""

from __future__ import annotations

import pytest

from tests.proposals.detectors.helpers import tiny_gdino, tiny_owlv2
from tests.torch_threads import one_torch_thread


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread (no oversubscription on small CI machines)."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def gdino_parts():
    return tiny_gdino()


@pytest.fixture(scope="module")
def owl_parts():
    return tiny_owlv2()
