"""Fixtures of the backend tests: one tiny checkpoint per family, written once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tubescope.testing import TINY_FAMILIES, save_tiny_model

from tests.engine.backends.helpers import load_cpu


@pytest.fixture(scope="session", autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_models")
    return {family: save_tiny_model(family, root / family) for family in TINY_FAMILIES}


@pytest.fixture(scope="session")
def backends(tiny_dirs: dict[str, Path]) -> dict[str, Any]:
    """Shared, read-only backends (tests that mutate weights load their own)."""
    return {family: load_cpu(path) for family, path in tiny_dirs.items()}


@pytest.fixture(params=TINY_FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(backends: dict[str, Any], family: str) -> Any:
    b = backends[family]
    b.reset_counters()
    return b
