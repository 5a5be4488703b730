"""Where the backend tests find real checkpoint files, and which files each family is built like.

The Apache-2.0 Qwen files are vendored in ``tests/fixtures/hf`` (provenance and licence beside
them). LLaVA-NeXT-Video's Llama-2 ``tokenizer.model`` is not redistributed: it is read from
``$TUBESCOPE_HF_FIXTURES/llava-hf__LLaVA-NeXT-Video-7B-hf/`` (default
``../shared/fixtures/hf`` next to the repository root) and the tests that need it skip, saying
why, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
VENDORED = REPOSITORY / "tests" / "fixtures" / "hf"
QWEN25 = VENDORED / "Qwen__Qwen2.5-VL-7B-Instruct"
QWEN2 = VENDORED / "Qwen__Qwen2-VL-2B-Instruct-AWQ"
QWEN3 = VENDORED / "Qwen__Qwen3-VL-4B-Instruct"
LLAVA_NEXT_VIDEO = "llava-hf__LLaVA-NeXT-Video-7B-hf"
ENV = "TUBESCOPE_HF_FIXTURES"

#: the families built like real files in these tests.
REAL_FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl", "llava-next-video")


def shared_fixtures() -> Path:
    """``$TUBESCOPE_HF_FIXTURES``, or ``../shared/fixtures/hf`` beside the repository root."""
    configured = os.environ.get(ENV)
    if configured:
        return Path(configured)
    return REPOSITORY.parent / "shared" / "fixtures" / "hf"


def like(family: str) -> Any:
    """The ``like=`` argument that builds ``family`` from real files (skips when absent)."""
    if family == "qwen2.5-vl":
        return [QWEN25]
    if family in ("qwen2-vl", "qwen3-vl"):
        # their own tokenizer and config files; their vocab.json and merges.txt are Qwen2.5-VL's
        return [QWEN2 if family == "qwen2-vl" else QWEN3, (QWEN25, ("vocab.json", "merges.txt"))]
    if family == "llava-next-video":
        folder = shared_fixtures() / LLAVA_NEXT_VIDEO
        if not (folder / "tokenizer.model").is_file():
            pytest.skip(
                f"LLaVA-NeXT-Video's tokenizer.model (Llama 2 Community License, not in the "
                f"repository) is not at {folder}; set {ENV} to the folder holding "
                f"{LLAVA_NEXT_VIDEO}/tokenizer.model"
            )
        return [folder]
    raise KeyError(family)
