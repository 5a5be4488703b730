"""Silence FFmpeg's own stderr chatter in the CLI (errors reach the user as one-line messages)."""

from __future__ import annotations


def quiet_ffmpeg() -> None:
    """Turn off the log output of the FFmpeg builds inside decord and PyAV."""
    import av.logging
    import decord

    av.logging.set_level(None)
    decord.logging.set_level(decord.logging.QUIET)
