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
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # transformers is optional for info/eval
        pass
