"""decord's batched random access, checked against the packet table before it is trusted.

decord keeps its own frame index. It is used only when asked for (``Video(path,
backend="decord")``) and only when its index agrees with the frames FFmpeg decodes (the same
count and the same times); otherwise opening fails with the reason, rather than handing out
frames that are not the ones asked for (decord shows frames an MP4 edit list cuts away, for
instance), and never for MPEG transport or program streams, where its seeks land on wrong
frames. Frames come out in display orientation like the PyAV readers'.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.errors import VideoError
from tubescope.plural import counted
from tubescope.videoreaders.base import Reader, to_display
from tubescope.videoreaders.scan import PacketTable

# containers whose seeks decord gets wrong (it returns frames a GOP away, unnoticed)
_UNSEEKABLE = frozenset({"mpegts", "mpeg"})
# decord reads this many frames at a time when streaming
_STREAM_CHUNK = 16


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class DecordReader(Reader):
    """Random access through ``decord.VideoReader.get_batch``."""

    name = "decord"

    def __init__(self, path: Path, table: PacketTable) -> None:
        if table.container in _UNSEEKABLE:
            raise VideoError(
                path, f"decord cannot seek {table.container} files frame-exactly; read it with backend='pyav'"
            )
        self.path = path
        self.rotation = table.rotation
        self.width, self.height = table.width, table.height
        self.rate, self.times = table.rate, table.times
        self.codec, self.container = table.codec, table.container
        self._reader: Any = None
        self._check_agreement(self._open())

    def _open(self) -> Any:
        import decord

        if self._reader is None:
            try:
                self._reader = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=0)
            except (decord.DECORDError, RuntimeError) as err:
                raise VideoError(self.path, f"decord cannot open it ({_reason(err)})") from None
        return self._reader

    def _check_agreement(self, reader: Any) -> None:
        count = len(reader)
        if count != self.frame_count:
            raise VideoError(
                self.path,
                f"decord sees {counted(count, 'frame')} where FFmpeg decodes {self.frame_count}; "
                "read it with backend='pyav'",
            )
        stamps = np.asarray(reader.get_frame_timestamp(np.arange(count)))[:, 0]
        times = stamps - stamps[0]
        tolerance = 0.5 / float(self.rate)
        worst = int(np.argmax(np.abs(times - self.times)))
        if abs(times[worst] - self.times[worst]) > tolerance:
            raise VideoError(
                self.path,
                f"decord times frame {worst} at {times[worst]:.3f} s where FFmpeg shows it at "
                f"{self.times[worst]:.3f} s; read it with backend='pyav'",
            )

    def read(self, indices: np.ndarray) -> np.ndarray:
        import decord

        try:
            batch = self._open().get_batch(indices.tolist()).asnumpy()
        except (decord.DECORDError, RuntimeError) as err:
            raise VideoError(
                self.path,
                f"cannot decode frames {indices.min()}..{indices.max()} (corrupt or truncated? {_reason(err)})",
            ) from None
        if batch.shape[0] != len(indices):
            raise self.missing(int(indices[batch.shape[0]]))
        if batch.shape[1:3] != (self.height, self.width):  # a decord that does not apply the display matrix
            batch = to_display(batch, self.rotation)
        return batch

    def stream(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(indices), _STREAM_CHUNK):
            chunk = indices[start : start + _STREAM_CHUNK]
            yield from zip((int(i) for i in chunk), self.read(chunk))

    def close(self) -> None:
        self._reader = None
