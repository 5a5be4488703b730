"""Silence third-party stderr chatter in the CLI (errors reach the user as one-line messages)."""

from __future__ import annotations


def quiet_ffmpeg() -> None:
    """Turn off the log output of the FFmpeg builds inside decord and PyAV, and the
    transformers/hub progress bars (the CLI draws its own)."""
    import os

    import av.logging
    import decord

    av.logging.set_level(None)
    decord.logging.set_level(decord.logging.QUIET)
    # read by huggingface_hub / transformers when they are imported (later, by the command)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
