"""Fixtures of the oracle tests: tiny checkpoints of the paper's three backbones, loaded once.

The tiny models are run single-threaded: on a shared 2-core machine, torch's thread pool
costs more than it gains on matrices this small.
"""

from __future__ import annotations

import pytest

from tubescope.testing import save_tiny_model

from tests.oracle.official import OfficialModel
from tests.torch_threads import one_torch_thread

PAPER_FAMILIES = ("llava-next-video", "llava-onevision", "qwen2-vl")
TINY = dict(hidden_size=32, num_heads=2, num_kv_heads=1)


@pytest.fixture(scope="package", autouse=True)
def single_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="package")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle-models")
    return {family: save_tiny_model(family, root / family, seed=3, **TINY) for family in PAPER_FAMILIES}


@pytest.fixture(scope="package")
def official_models(tiny_dirs):
    return {family: OfficialModel(path, family) for family, path in tiny_dirs.items()}
