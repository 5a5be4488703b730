"""Fixtures of the backend tests: a tiny checkpoint per registered family, written once per
session when a test first needs it (the family parameter comes from the family registry)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from tubescope.testing import TINY_FAMILIES, save_tiny_model

from tests.engine.backends.helpers import load_cpu
from tests.engine.backends.real_files import REAL_FAMILIES, like


class PerFamily(dict):
    """``family -> value``, each value made on first access."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, family: str) -> Any:
        value = self[family] = self._make(family)
        return value


@pytest.fixture(scope="session", autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_models")
    return PerFamily(lambda family: save_tiny_model(family, root / family))


@pytest.fixture(scope="session")
def backends(tiny_dirs: dict[str, Path]) -> dict[str, Any]:
    """Shared, read-only backends (tests that mutate weights load their own)."""
    return PerFamily(lambda family: load_cpu(tiny_dirs[family]))


@pytest.fixture(params=TINY_FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def real_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny checkpoints built like real files (tests/engine/backends/real_files.py)."""
    root = tmp_path_factory.mktemp("real_models")
    return PerFamily(lambda family: save_tiny_model(family, root / family, like=like(family)))


@pytest.fixture(scope="session")
def real_backends(real_dirs: dict[str, Path]) -> dict[str, Any]:
    return PerFamily(lambda family: load_cpu(real_dirs[family]))


@pytest.fixture(params=REAL_FAMILIES)
def real_family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(backends: dict[str, Any], family: str) -> Any:
    b = backends[family]
    b.reset_counters()
    return b
