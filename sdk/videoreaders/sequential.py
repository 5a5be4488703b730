"""PyAV decoding from the start of the file, for files whose packets lack timestamps.

Raw elementary streams, AVI files with B-frames and transport streams with missing PES
timestamps give some frames neither a pts nor a usable dts, so a decoded frame cannot be
matched to a table entry and no seek can be trusted. The only safe point is the start of the
file: this reader decodes from there every time and numbers frames in the order the decoder
outputs them, which is exactly how the ``ffmpeg`` tool numbers them. Random access costs a
decode up to the last wanted frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tubescope.errors import VideoError
from tubescope.videoreaders.base import Reader
from tubescope.videoreaders.pyav_io import decode_all, ffmpeg_reason, open_container, rgb
from tubescope.videoreaders.scan import PacketTable


class SequentialReader(Reader):
    """Frames numbered by decoding order from the start of the file."""

    name = "pyav"
    note = "packets carry no timestamps; every read decodes from the start of the file"

    def __init__(self, path: Path, table: PacketTable) -> None:
        self.path = path
        self.rotation = table.rotation
        self.width, self.height = table.width, table.height
        self.rate, self.times = table.rate, table.times
        self.codec, self.container = table.codec, table.container

    def read(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([image for _, image in self.stream(indices)])

    def stream(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        import av

        if not len(indices):
            return
        container = open_container(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            pending = 0
            try:
                for rank, frame in enumerate(decode_all(container, stream)):
                    if rank == indices[pending]:
                        yield rank, rgb(frame, self.rotation)
                        pending += 1
                        if pending == len(indices):
                            return
            except av.FFmpegError as err:
                raise VideoError(self.path, f"decoding failed ({ffmpeg_reason(err)}; corrupt or truncated?)") from None
            raise self.missing(int(indices[pending]))
        finally:
            container.close()
