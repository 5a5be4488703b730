"""Private frame readers behind :class:`tubescope.video.Video` (not a public API).

``Video`` is the narrow public decoder; each reader here serves one kind of source:

- :class:`~tubescope.videoreaders.arrays.ArrayReader`: an in-memory frame array.
- :class:`~tubescope.videoreaders.keyframes.KeyframeReader`: files whose packets carry
  timestamps (MP4, MOV, MKV, WebM, AVI with MJPEG, MPEG-TS, ...): PyAV decoding from a
  verified keyframe, frames identified by their timestamps.
- :class:`~tubescope.videoreaders.sequential.SequentialReader`: files whose packets do not all
  carry timestamps: PyAV decoding from the start of the file, frames identified by their rank.
- :class:`~tubescope.videoreaders.decord_batch.DecordReader`: decord's batched access, used
  only when asked for and only when decord sees the frames FFmpeg decodes.

:func:`~tubescope.videoreaders.scan.scan` reads a file's packet table once;
:func:`open_reader` picks the reader.
"""

from __future__ import annotations

from pathlib import Path

from tubescope.videoreaders.base import Reader
from tubescope.videoreaders.keyframes import KeyframeReader
from tubescope.videoreaders.scan import scan
from tubescope.videoreaders.sequential import SequentialReader

__all__ = ["Reader", "open_reader"]


def open_reader(path: Path, backend: str) -> Reader:
    """The reader for ``path``: ``backend`` is ``"auto"``, ``"pyav"`` or ``"decord"``."""
    table = scan(path)
    if backend == "decord":
        from tubescope.videoreaders.decord_batch import DecordReader

        return DecordReader(path, table)
    if table.stamps is None:
        return SequentialReader(path, table)
    return KeyframeReader(path, table)
