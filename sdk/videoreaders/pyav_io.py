"""PyAV plumbing shared by the readers: opening, timestamps, tolerant decoding, RGB output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.errors import VideoError
from tubescope.videoreaders.base import to_display


def ffmpeg_reason(err: BaseException) -> str:
    """FFmpeg's own wording of an error (``strerror``), else its text."""
    return getattr(err, "strerror", None) or str(err)


def open_container(path: Path, doing: str = "cannot open for decoding") -> Any:
    """``av.open(path)``, raising :class:`VideoError` (naming ``path``) when FFmpeg cannot."""
    import av

    try:
        return av.open(str(path))
    except av.FFmpegError as err:
        raise VideoError(path, f"{doing} ({ffmpeg_reason(err)})") from None


def packet_stamp(packet: Any, intra_only: bool) -> int | None:
    """A packet's presentation timestamp in stream ticks.

    Intra-only streams (MJPEG in AVI, ...) present frames in decode order, so their decode
    timestamp stands in when the container writes no presentation timestamp; for streams with
    reordering a missing pts stays missing (guessing it from the dts would shift frames).
    """
    if packet.pts is not None:
        return int(packet.pts)
    if intra_only and packet.dts is not None:
        return int(packet.dts)
    return None


def frame_stamp(frame: Any, intra_only: bool) -> int | None:
    """The same rule as :func:`packet_stamp`, for a decoded frame."""
    if frame.pts is not None:
        return int(frame.pts)
    if intra_only and frame.dts is not None:
        return int(frame.dts)
    return None


def decode(codec: Any, packet: Any) -> list[Any]:
    """Frames that ``packet`` completes (``None`` or an empty packet flushes the decoder).

    A packet the decoder rejects as invalid yields no frame and decoding goes on, as the
    ``ffmpeg`` tool does; callers notice frames that never arrive.
    """
    import av

    try:
        return list(codec.decode(packet if packet is not None and packet.size else None))
    except av.InvalidDataError:
        return []


def decode_all(container: Any, stream: Any) -> Iterator[Any]:
    """Every frame of ``stream`` from the container's current position, in presentation order."""
    codec = stream.codec_context
    for packet in container.demux(stream):
        yield from decode(codec, packet)


def rgb(frame: Any, rotation: int) -> np.ndarray:
    """A decoded frame as ``(height, width, 3)`` RGB ``uint8`` in display orientation."""
    return to_display(frame.to_ndarray(format="rgb24"), rotation)


def display_rotation(frame: Any) -> int:
    """The frame's display-matrix rotation rounded to a quarter turn (0 when not a quarter turn)."""
    angle = float(getattr(frame, "rotation", 0) or 0)
    quarters = round(angle / 90)
    if abs(angle - 90 * quarters) > 1:
        return 0  # an arbitrary angle: players show such frames unrotated too
    return int(quarters % 4) * 90


