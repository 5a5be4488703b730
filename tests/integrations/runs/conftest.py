"""Fixtures of the dataset-run tests: a tiny random checkpoint and synthetic HC-STVG splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integrations.runs.helpers import Dataset, write_hcstvg


@pytest.fixture(scope="session", autouse=True)
def _two_threads() -> None:
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2-VL checkpoint (skips only when tubescope.testing is unavailable)."""
    testing = pytest.importorskip("tubescope.testing")
    return Path(testing.save_tiny_model("qwen2-vl", tmp_path_factory.mktemp("tiny") / "qwen2-vl"))


@pytest.fixture(scope="session")
def hcstvg(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Four good videos and one corrupt file, official HC-STVG v1 annotations (read-only)."""
    return write_hcstvg(tmp_path_factory.mktemp("hcstvg"))
