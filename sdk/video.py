"""Reading videos: metadata, container timestamps, uniform sampling, batched random access, streaming.

:class:`Video` opens a file (MP4, MOV, MKV, WebM, AVI, MPEG-TS, ... anything FFmpeg reads) or
wraps an in-memory ``(frames, height, width, 3)`` array. Frames are RGB ``uint8``.

Frame ``i`` is the ``i``-th frame FFmpeg shows, the one ``ffmpeg -i FILE`` outputs as frame
``i``: frames an MP4 edit list cuts away (stream-copy trims) are not frames, and rotated video
(a display matrix, as phones write) comes out the way players show it, with ``width`` and
``height`` in that orientation. A frame's time is read from the container (seconds from frame
0), never guessed as ``i / fps``, so variable-frame-rate files keep their true timing.

Random access decodes with PyAV from the keyframe each wanted frame depends on, and identifies
every decoded frame by its timestamp, so it returns the frame asked for or raises
:class:`~tubescope.errors.VideoError`, never a neighbour. MPEG-TS files cannot be seeked
reliably (FFmpeg's seek lands late): decoding then starts from an earlier keyframe and
demuxes forward to the right one, down to the start of the file if need be. Files whose
packets lack timestamps are decoded from the start of the file on every read (slow but exact;
``Video.backend_note`` says so). Streaming (:meth:`Video.iter_frames`) decodes forward and
holds one frame at a time, so memory stays bounded on hour-long videos.

Example:
    >>> import tempfile, os
    >>> from tubescope.synthetic import make_clip
    >>> from tubescope.video import Video
    >>> clip = make_clip(os.path.join(tempfile.mkdtemp(), "c.mp4"), num_frames=40, fps=20)
    >>> with Video(clip.path) as video:
    ...     idx = video.sample(4)
    ...     frames = video.get_frames(idx)
    >>> idx.tolist(), frames.shape
    ([0, 13, 26, 39], (4, 240, 320, 3))
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from tubescope.errors import ValidationError, VideoError
from tubescope.videoreaders.arrays import ArrayReader
from tubescope.videoreaders.base import Reader
from tubescope.videowrite import as_fraction

__all__ = ["Video", "VideoInfo", "Frame", "uniform_indices"]

_BACKENDS = ("auto", "decord", "pyav")


def uniform_indices(n: int, start: int, end: int) -> np.ndarray:
    """``n`` frame indices spread uniformly over ``[start, end)``, the official way.

    ``start + int(np.linspace(0, end - start - 1, n))``: the first and last frame of the span
    are always included, and indices repeat when the span is shorter than ``n``.

    Example:
        >>> uniform_indices(5, 0, 100).tolist()
        [0, 24, 49, 74, 99]
        >>> uniform_indices(4, 10, 12).tolist()
        [10, 10, 10, 11]
    """
    if n < 1:
        raise ValidationError(f"n must be at least 1, got {n}")
    if end <= start:
        raise ValidationError(f"span [{start}, {end}) is empty")
    return start + np.linspace(0, end - start - 1, n).astype(np.int64)


@dataclass(frozen=True)
class VideoInfo:
    """Video metadata. ``fps`` is the average rate as a float; ``fps_fraction`` keeps it exact."""

    path: str | None
    frame_count: int
    fps: float
    fps_fraction: str
    width: int
    height: int
    duration: float
    codec: str | None
    container: str | None
    backend: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index, its time in seconds, and the RGB image."""

    index: int
    time: float
    image: np.ndarray


class Video:
    """A video file or in-memory frame array with random and streaming access.

    Args:
        source: a path, or a ``(frames, height, width, 3)`` uint8 RGB array.
        fps: frame rate of an array source (default 30); ignored for files.
        backend: ``"auto"`` or ``"pyav"`` (PyAV, frame-exact on every container), or
            ``"decord"`` (decord's batched access, accepted only when decord sees the same
            frames as FFmpeg).

    Raises:
        VideoError: the file is missing, not a video, has no frames, or is corrupt; the message
            names the file and the problem.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | np.ndarray,
        *,
        fps: float | Fraction | None = None,
        backend: str = "auto",
    ) -> None:
        if backend not in _BACKENDS:
            raise ValidationError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        self._reader: Reader
        if isinstance(source, np.ndarray):
            self.path: Path | None = None
            self._reader = ArrayReader(source, as_fraction(30 if fps is None else fps))
        else:
            from tubescope.videoreaders import open_reader

            self.path = Path(source)
            self._check_file()
            self._reader = open_reader(self.path, backend)
        reader = self._reader
        self.backend: str = reader.name
        #: why frames are read the way they are, when it is not the usual way (else None)
        self.backend_note: str | None = reader.note
        self._frame_count = reader.frame_count
        self._fps = reader.rate
        self._width, self._height = reader.width, reader.height
        self._timestamps = np.asarray(reader.times, dtype=np.float64)
        self._timestamps.setflags(write=False)
        self._codec, self._container = reader.codec, reader.container

    def _check_file(self) -> None:
        assert self.path is not None
        if not self.path.exists():
            raise VideoError(self.path, "no such file")
        if self.path.is_dir():
            raise VideoError(self.path, "is a directory, not a video file")
        if self.path.stat().st_size == 0:
            raise VideoError(self.path, "is an empty file")

    # ------------------------------------------------------------------ metadata
    @property
    def frame_count(self) -> int:
        """Frames FFmpeg decodes (what ``ffprobe -count_frames`` reports)."""
        return self._frame_count

    def __len__(self) -> int:
        return self._frame_count

    @property
    def fps(self) -> Fraction:
        """Average frame rate, exact (``Fraction(30000, 1001)`` for 29.97)."""
        return self._fps

    @property
    def width(self) -> int:
        """Frame width in display orientation (after any rotation the file asks for)."""
        return self._width

    @property
    def height(self) -> int:
        """Frame height in display orientation."""
        return self._height

    @property
    def timestamps(self) -> np.ndarray:
        """Presentation time of every frame in seconds from the first frame (read-only)."""
        return self._timestamps

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last one."""
        return float(self.timestamps[-1] + 1 / self.fps)

    @property
    def info(self) -> VideoInfo:
        return VideoInfo(
            path=None if self.path is None else str(self.path),
            frame_count=self.frame_count,
            fps=float(self.fps),
            fps_fraction=f"{self.fps.numerator}/{self.fps.denominator}",
            width=self.width,
            height=self.height,
            duration=self.duration,
            codec=self._codec,
            container=self._container,
            backend=self.backend,
        )

    def __repr__(self) -> str:
        name = "<array>" if self.path is None else str(self.path)
        return f"Video({name!r}, frames={self.frame_count}, fps={float(self.fps):.3f}, {self.width}x{self.height})"

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, span: tuple[int, int] | None = None) -> np.ndarray:
        """``n`` frame indices spread uniformly over ``span`` (default the whole video).

        Uses the official rule (:func:`uniform_indices`); indices repeat when the span is
        shorter than ``n``.
        """
        start, end = (0, self.frame_count) if span is None else span
        if not 0 <= start < end <= self.frame_count:
            raise VideoError(self._name, f"span [{start}, {end}) is not inside [0, {self.frame_count})")
        return uniform_indices(n, start, end)

    # ------------------------------------------------------------------ random access
    @property
    def _name(self) -> str | Path:
        return "<array>" if self.path is None else self.path

    def _check_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise VideoError(self._name, f"frame indices must be a flat list of integers, got {indices!r}")
        idx = idx.astype(np.int64)
        bad = (idx < 0) | (idx >= self.frame_count)
        if bad.any():
            raise VideoError(
                self._name, f"frame index {int(idx[bad][0])} is out of range [0, {self.frame_count})"
            )
        return idx

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Decode the given frames (any order, repeats allowed) as ``(k, height, width, 3)`` RGB.

        Each distinct frame is decoded once, from the keyframe it depends on.

        Example:
            >>> import numpy as np
            >>> video = Video(np.arange(4, dtype=np.uint8).repeat(12).reshape(4, 2, 2, 3))
            >>> video.get_frames([3, 0, 3])[:, 0, 0, 0].tolist()
            [3, 0, 3]
        """
        idx = self._check_indices(indices)
        if idx.size == 0:
            return np.zeros((0, self.height, self.width, 3), dtype=np.uint8)
        unique, inverse = np.unique(idx, return_inverse=True)
        return self._reader.read(unique)[inverse]

    def __getitem__(self, index: int) -> np.ndarray:
        return self.get_frames([index])[0]

    # ------------------------------------------------------------------ streaming
    def iter_frames(self, start: int = 0, end: int | None = None, step: int = 1) -> Iterator[Frame]:
        """Yield :class:`Frame` objects for ``range(start, end, step)``, decoding forward.

        Only the current frame is held, so memory stays bounded however long the video is.

        Example:
            >>> import numpy as np
            >>> video = Video(np.zeros((6, 4, 4, 3), np.uint8), fps=2)
            >>> [(f.index, f.time) for f in video.iter_frames(step=2)]
            [(0, 0.0), (2, 1.0), (4, 2.0)]
        """
        end = self.frame_count if end is None else end
        if step < 1:
            raise ValidationError(f"step must be at least 1, got {step}")
        if not 0 <= start <= end <= self.frame_count:
            raise VideoError(self._name, f"range [{start}, {end}) is not inside [0, {self.frame_count})")
        wanted = np.arange(start, end, step, dtype=np.int64)
        for index, image in self._reader.stream(wanted):
            yield Frame(index, float(self._timestamps[index]), image)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release what the decoder holds open (a later read opens it again)."""
        self._reader.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
