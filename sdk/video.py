"""Reading videos: metadata, container timestamps, uniform sampling, batched random access, streaming.

:class:`Video` opens a file (mp4, mkv, avi, webm, ... anything FFmpeg reads) or wraps an
in-memory ``(frames, height, width, 3)`` array. Random access goes through decord (batched,
decoder state reused across a GOP); when decord cannot open a file, PyAV takes over.
Streaming (:meth:`Video.iter_frames`) decodes sequentially with PyAV and holds one frame at a
time, so memory stays bounded on hour-long videos. Frames are RGB ``uint8``.

Frame ``i`` is the ``i``-th frame in presentation order; its time is read from the container
(seconds from the first frame), never guessed as ``i / fps``, so variable-frame-rate files
keep their true timing.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from tubescope.errors import VideoError
from tubescope.videowrite import as_fraction

__all__ = ["Video", "VideoInfo", "Frame", "uniform_indices"]

_BACKENDS = ("auto", "decord", "pyav")
# Streaming reads this many frames at a time when it cannot decode sequentially with PyAV.
_STREAM_CHUNK = 16
# Random access seeks (instead of decoding through) when the next frame is this far ahead.
_SEEK_GAP_SECONDS = 2.0


def _workers() -> int:
    """Parallel decoders for random access: one per core, at most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


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
        raise ValueError(f"n must be at least 1, got {n}")
    if end <= start:
        raise ValueError(f"span [{start}, {end}) is empty")
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


class _Probe:
    """What PyAV reads from the container without decoding: stream parameters and packet times."""

    def __init__(self, path: Path) -> None:
        import av

        try:
            container = av.open(str(path))
        except av.FFmpegError as err:
            raise VideoError(path, f"not a readable video file ({_ffmpeg_reason(err)})") from None
        try:
            if not container.streams.video:
                raise VideoError(path, "contains no video stream")
            stream = container.streams.video[0]
            self.codec = stream.codec_context.name
            self.container = container.format.name
            self.width = stream.codec_context.width
            self.height = stream.codec_context.height
            self.rate = stream.average_rate or stream.guessed_rate
            self.time_base = stream.time_base
            self.ticks, self.key_ticks = self._packet_ticks(path, container, stream)
            declared = stream.frames  # from the container index; 0 when unknown (mkv, webm)
            if self.ticks is not None and 0 < len(self.ticks) < declared:
                raise VideoError(
                    path,
                    f"truncated: the container declares {declared} frames but only "
                    f"{len(self.ticks)} are present",
                )
        finally:
            container.close()

    @staticmethod
    def _packet_ticks(
        path: Path, container: Any, stream: Any
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Sorted presentation timestamps (stream ticks) of all frames and of the keyframes.

        ``(None, None)`` when some packet carries no timestamp.
        """
        import av

        stamps, keys = [], []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # flush packet
                    continue
                stamp = _stamp(packet)
                if stamp is None:
                    return None, None
                stamps.append(stamp)
                if packet.is_keyframe:
                    keys.append(stamp)
        except av.FFmpegError as err:
            raise VideoError(path, f"corrupt container ({_ffmpeg_reason(err)})") from None
        return np.unique(np.asarray(stamps, dtype=np.int64)), np.unique(np.asarray(keys, dtype=np.int64))


def _stamp(packet: Any) -> int | None:
    return packet.pts if packet.pts is not None else packet.dts


def _ffmpeg_reason(err: BaseException) -> str:
    return getattr(err, "strerror", None) or str(err)


class Video:
    """A video file or in-memory frame array with random and streaming access.

    Args:
        source: a path, or a ``(frames, height, width, 3)`` uint8 RGB array.
        fps: frame rate of an array source (default 30); ignored for files.
        backend: ``"auto"`` (PyAV when the container can be indexed, else decord),
            ``"pyav"`` or ``"decord"``.

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
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        self._decord: Any = None
        self._array: np.ndarray | None = None
        self._timestamps: np.ndarray | None = None
        self._ticks: np.ndarray | None = None
        self.backend_note: str | None = None
        if isinstance(source, np.ndarray):
            self._init_array(source, fps)
            return
        self.path: Path | None = Path(source)
        self._check_file()
        probe = _Probe(self.path)
        self._codec, self._container = probe.codec, probe.container
        self._width, self._height = probe.width, probe.height
        self._fps = as_fraction(probe.rate) if probe.rate else None
        self._ticks, self._key_ticks = probe.ticks, probe.key_ticks
        if backend == "auto":
            # PyAV's GOP-aware access is the faster reader (bench/decode.py); decord serves the
            # files whose packets carry no timestamps, which PyAV cannot index
            backend = "pyav" if self._ticks is not None else "decord"
            if backend == "decord":
                self.backend_note = "packets carry no timestamps; reading through decord"
        if backend == "decord":
            self._open_decord()
            self.backend = "decord"
            self._frame_count = len(self._decord)
            if self._fps is None:
                self._fps = as_fraction(self._decord.get_avg_fps())
            if self._ticks is not None and len(self._ticks) != self._frame_count:
                self._ticks = None  # PyAV and decord disagree: index through decord only
        else:
            self.backend = "pyav"
            if self._ticks is None:
                raise VideoError(self.path, "the container gives no frame timestamps; cannot index it")
            self._frame_count = len(self._ticks)
        if self._ticks is not None and len(self._ticks):
            self._timestamps = (self._ticks - self._ticks[0]).astype(np.float64) * float(probe.time_base)
        elif self._decord is not None and self._frame_count:
            self._timestamps = self._decord_timestamps()
        if self._frame_count == 0:
            raise VideoError(self.path, "has no frames")
        if self._fps is None:
            raise VideoError(self.path, "the container gives no frame rate")

    # ------------------------------------------------------------------ opening
    def _init_array(self, array: np.ndarray, fps: float | Fraction | None) -> None:
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise VideoError("<array>", f"expected a (frames, height, width, 3) uint8 array, got {array.shape} {array.dtype}")
        if len(array) == 0:
            raise VideoError("<array>", "has no frames")
        self.path = None
        self.backend = "array"
        self._array = array
        self._frame_count, self._height, self._width = array.shape[:3]
        self._fps = as_fraction(30 if fps is None else fps)
        self._codec = self._container = None
        self._timestamps = np.array([float(Fraction(i) / self._fps) for i in range(len(array))])

    def _check_file(self) -> None:
        assert self.path is not None
        if not self.path.exists():
            raise VideoError(self.path, "no such file")
        if self.path.is_dir():
            raise VideoError(self.path, "is a directory, not a video file")
        if self.path.stat().st_size == 0:
            raise VideoError(self.path, "is an empty file")

    def _open_decord(self) -> None:
        import decord

        try:
            self._decord = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=0)
        except (decord.DECORDError, RuntimeError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise VideoError(self.path, f"decord cannot open it ({reason})") from None

    def _decord_timestamps(self) -> np.ndarray:
        stamps = np.asarray(self._decord.get_frame_timestamp(np.arange(len(self._decord))))[:, 0]
        return (stamps - stamps[0]).astype(np.float64) if len(stamps) else stamps

    # ------------------------------------------------------------------ metadata
    @property
    def frame_count(self) -> int:
        return self._frame_count

    def __len__(self) -> int:
        return self._frame_count

    @property
    def fps(self) -> Fraction:
        """Average frame rate, exact (``Fraction(30000, 1001)`` for 29.97)."""
        assert self._fps is not None
        return self._fps

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def timestamps(self) -> np.ndarray:
        """Presentation time of every frame in seconds from the first frame (read-only)."""
        assert self._timestamps is not None
        self._timestamps.setflags(write=False)
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
        """Decode the given frames (any order, repeats allowed) as ``(k, height, width, 3)`` RGB."""
        idx = self._check_indices(indices)
        if idx.size == 0:
            return np.zeros((0, self.height, self.width, 3), dtype=np.uint8)
        if self._array is not None:
            return self._array[idx]
        unique, inverse = np.unique(idx, return_inverse=True)
        if self._decord is not None:
            decoded = self._decord_batch(unique)
        else:
            decoded = self._pyav_batch(unique)
        return decoded[inverse]

    def __getitem__(self, index: int) -> np.ndarray:
        return self.get_frames([index])[0]

    def _decord_batch(self, unique: np.ndarray) -> np.ndarray:
        import decord

        try:
            batch = self._decord.get_batch(unique.tolist()).asnumpy()
        except (decord.DECORDError, RuntimeError) as err:
            reason = str(err).strip().splitlines()[0]
            raise VideoError(
                self._name, f"cannot decode frames {unique.min()}..{unique.max()} (corrupt or truncated? {reason})"
            ) from None
        if batch.shape[0] != len(unique):
            raise VideoError(self._name, f"decoded {batch.shape[0]} of {len(unique)} frames (truncated?)")
        return batch

    def _pyav_batch(self, unique: np.ndarray) -> np.ndarray:
        """Random access with PyAV: one worker per group of GOPs, each seeking to the keyframe
        of a wanted frame's GOP and decoding only what that frame depends on (frames that no
        other frame references are skipped unless wanted)."""
        found: dict[int, np.ndarray] = {}
        gops = self._gop_of(unique)
        groups = [g for g in np.array_split(np.unique(gops), min(_workers(), len(np.unique(gops)))) if len(g)]
        chunks = [unique[np.isin(gops, group)] for group in groups]
        if len(chunks) == 1:
            found.update(self._decode_targets(chunks[0]))
        else:
            with ThreadPoolExecutor(len(chunks)) as pool:
                for part in pool.map(self._decode_targets, chunks):
                    found.update(part)
        missing = np.array([i for i in unique if int(i) not in found], dtype=np.int64)
        if len(missing):  # imprecise seeking or reordering: decode through, skipping nothing
            for frame in self._pyav_decode(missing):
                if frame.index in missing:
                    found.setdefault(frame.index, frame.image)
        for index in unique:
            if int(index) not in found:
                raise VideoError(self._name, f"the file ends before frame {int(index)} (truncated or corrupt)")
        return np.stack([found[int(i)] for i in unique])

    def _gop_of(self, indices: np.ndarray) -> np.ndarray:
        assert self._ticks is not None and self._key_ticks is not None
        gops = np.searchsorted(self._key_ticks, self._ticks[indices], side="right") - 1
        return np.maximum(gops, 0)

    def _decode_targets(self, targets: np.ndarray) -> dict[int, np.ndarray]:
        """Decode the sorted ``targets`` (grouped by GOP) in one container of their own."""
        import av

        assert self.path is not None and self._ticks is not None and self._key_ticks is not None
        ticks = self._ticks
        wanted = {int(ticks[i]) for i in targets}
        found: dict[int, np.ndarray] = {}
        gops = self._gop_of(targets)
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as err:
            raise VideoError(self.path, f"cannot open for decoding ({_ffmpeg_reason(err)})") from None
        try:
            stream = container.streams.video[0]
            codec = stream.codec_context
            for gop in np.unique(gops):
                group = targets[gops == gop]
                last = int(group[-1])
                key = self._key_ticks[gop] if len(self._key_ticks) else ticks[0]
                container.seek(int(key), stream=stream, backward=True)
                done = False
                for packet in container.demux(stream):
                    if packet.size:
                        codec.skip_frame = "DEFAULT" if _stamp(packet) in wanted else "NONREF"
                    frames = codec.decode(packet if packet.size else None)
                    for decoded in frames:
                        index = self._index_of(decoded.pts)
                        if index is None:
                            continue
                        if int(ticks[index]) in wanted:
                            found[index] = decoded.to_ndarray(format="rgb24")
                        if index >= last:
                            done = True
                    if done or all(int(i) in found for i in group):
                        break
                codec.skip_frame = "DEFAULT"
        except av.FFmpegError as err:
            raise VideoError(self.path, f"decoding failed ({_ffmpeg_reason(err)}; corrupt or truncated?)") from None
        finally:
            container.close()
        return found

    def _index_of(self, pts: int | None) -> int | None:
        """Frame index of a decoded frame's timestamp (None when it is not a known frame)."""
        if pts is None or self._ticks is None:
            return None
        index = int(np.searchsorted(self._ticks, pts))
        if index >= len(self._ticks) or self._ticks[index] != pts:
            return None
        return index

    # ------------------------------------------------------------------ streaming
    def iter_frames(self, start: int = 0, end: int | None = None, step: int = 1) -> Iterator[Frame]:
        """Yield :class:`Frame` objects for ``range(start, end, step)``, decoding sequentially.

        Only the current frame is held, so memory stays bounded however long the video is.

        Example:
            >>> import numpy as np
            >>> video = Video(np.zeros((6, 4, 4, 3), np.uint8), fps=2)
            >>> [(f.index, f.time) for f in video.iter_frames(step=2)]
            [(0, 0.0), (2, 1.0), (4, 2.0)]
        """
        end = self.frame_count if end is None else end
        if step < 1:
            raise ValueError(f"step must be at least 1, got {step}")
        if not 0 <= start <= end <= self.frame_count:
            raise VideoError(self._name, f"range [{start}, {end}) is not inside [0, {self.frame_count})")
        wanted = range(start, end, step)
        if self._array is not None or self._ticks is None:
            # arrays, or files whose packet table disagrees with decord: fetch small batches
            for chunk in range(0, len(wanted), _STREAM_CHUNK):
                indices = np.asarray(wanted[chunk : chunk + _STREAM_CHUNK])
                for index, image in zip(indices, self.get_frames(indices)):
                    yield Frame(int(index), float(self.timestamps[index]), image)
            return
        position = 0
        for frame in self._pyav_decode(np.asarray(wanted)):
            if frame.index < wanted[position]:
                continue
            if frame.index > wanted[position]:
                raise VideoError(self._name, f"frame {wanted[position]} could not be decoded (corrupt?)")
            yield frame
            position += 1
            if position == len(wanted):
                return
        if position < len(wanted):
            raise VideoError(
                self._name, f"the file ends before frame {wanted[position]} (truncated or corrupt)"
            )

    def _pyav_decode(self, targets: np.ndarray) -> Iterator[Frame]:
        """Decode with PyAV, in presentation order, every frame from ``targets[0]`` on.

        ``targets`` are sorted frame indices; when the next one is far ahead of the decoder,
        it seeks to the keyframe before it instead of decoding the gap. Callers pick the
        frames they want from what is yielded; the generator stops after the last target or
        at the end of the file.
        """
        import av

        assert self.path is not None and self._ticks is not None
        ticks = self._ticks
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as err:
            raise VideoError(self.path, f"cannot open for decoding ({_ffmpeg_reason(err)})") from None
        gap = _SEEK_GAP_SECONDS * float(self.fps)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            pending = 0
            while pending < len(targets):
                target = int(targets[pending])
                container.seek(int(ticks[target]), stream=stream, backward=True)
                for decoded in container.decode(stream):
                    if decoded.pts is None:
                        continue
                    index = self._index_of(decoded.pts)
                    if index is None or index < target:
                        continue
                    yield Frame(index, float(self.timestamps[index]), decoded.to_ndarray(format="rgb24"))
                    while pending < len(targets) and targets[pending] <= index:
                        pending += 1
                    if pending == len(targets):
                        return
                    if targets[pending] - index > gap:
                        break  # far ahead: seek rather than decode the gap
                else:
                    return  # end of file
        except av.FFmpegError as err:
            raise VideoError(self.path, f"decoding failed ({_ffmpeg_reason(err)}; corrupt or truncated?)") from None
        finally:
            container.close()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the decoder (the object can no longer decode)."""
        self._decord = None
        self._array = None

    def __enter__(self) -> Video:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
