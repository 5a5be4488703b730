"""Writing video files through PyAV: H.264 that browsers play, or MPEG-4 Part 2.

Example:
    >>> import numpy as np, tempfile, os
    >>> from tubescope.videowrite import VideoWriter
    >>> path = os.path.join(tempfile.mkdtemp(), "grey.mp4")
    >>> with VideoWriter(path, fps=25, width=64, height=48) as sink:
    ...     for _ in range(5):
    ...         sink.write(np.full((48, 64, 3), 128, np.uint8))
    >>> sink.frames_written
    5
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from tubescope.errors import ValidationError, VideoError

__all__ = ["VideoWriter", "CODECS"]

#: Codec names accepted by :class:`VideoWriter` and the FFmpeg encoder each one uses.
CODECS = {"h264": "libx264", "mpeg4": "mpeg4", "vp9": "libvpx-vp9"}


# NTSC rates written as decimals (23.976, 29.97, 59.94, ...) mean k * 1000 / 1001.
_NTSC_BASES = (24, 30, 48, 60, 120, 240)


def as_fraction(fps: float | Fraction | int) -> Fraction:
    """An exact frame rate: 29.97 becomes 30000/1001, 25.0 becomes 25.

    Example:
        >>> as_fraction(29.97), as_fraction(23.976), as_fraction(12.5)
        (Fraction(30000, 1001), Fraction(24000, 1001), Fraction(25, 2))
    """
    if isinstance(fps, Fraction):
        rate = fps
    else:
        rate = Fraction(fps).limit_denominator(1001)
        for base in _NTSC_BASES:
            ntsc = Fraction(base * 1000, 1001)
            if rate != base and abs(float(rate) - float(ntsc)) < 0.0015:
                rate = ntsc
    if rate <= 0:
        raise ValidationError(f"fps must be positive, got {fps}")
    return rate


class VideoWriter:
    """Encode RGB frames into a video file with PyAV.

    Args:
        path: output file; the container follows the extension (``.mp4``, ``.mkv``, ``.avi``...).
        fps: nominal frame rate (kept exact: 29.97 is written as 30000/1001).
        width, height: frame size; H.264 needs both even.
        codec: ``"h264"`` (libx264, yuv420p, browser-playable), ``"mpeg4"`` (MPEG-4 Part 2)
            or ``"vp9"`` (for ``.webm``).
        quality: CRF for H.264 (default 18) and VP9 (default 32), lower is better; qscale for
            MPEG-4 (1-31, default 3).
        faststart: for MP4, move the index to the front of the file (streamable).
        time_base: clock of the timestamps; defaults to ``1 / fps`` (constant frame rate).
            Pass e.g. ``Fraction(1, 1000)`` to write variable-frame-rate video with explicit
            timestamps.

    Frames are ``(height, width, 3)`` uint8 RGB. :meth:`write` takes an optional timestamp in
    seconds (default ``index / fps``), rounded to the ``time_base``. Timestamps must not go
    backwards; one that repeats the previous frame's (as in files whose packets repeat
    timestamps) is written one tick later.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | Fraction,
        width: int,
        height: int,
        *,
        codec: str = "h264",
        quality: int | None = None,
        faststart: bool = False,
        time_base: Fraction | None = None,
    ) -> None:
        import av

        if codec not in CODECS:
            raise ValidationError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
        if width % 2 or height % 2:
            raise ValidationError(f"yuv420p video needs an even width and height, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.fps = as_fraction(fps)
        self.frames_written = 0
        self._last_pts: int | None = None
        if codec == "h264":
            options = {"crf": str(18 if quality is None else quality), "preset": "veryfast"}
        elif codec == "vp9":
            options = {"crf": str(32 if quality is None else quality), "b": "0", "deadline": "realtime"}
        else:  # mpeg4: constant quantiser, like ffmpeg's -q:v (FF_QP2LAMBDA = 118)
            options = {"flags": "+qscale", "global_quality": str(118 * (3 if quality is None else quality))}
        container_options = {"movflags": "+faststart"} if faststart else {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w", options=container_options)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise VideoError(self.path, f"cannot create the output file ({err})") from None
        self._stream = self._container.add_stream(CODECS[codec], rate=self.fps, options=options)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self.time_base = time_base if time_base is not None else 1 / self.fps
        self._stream.codec_context.time_base = self.time_base

    def write(self, frame: np.ndarray, timestamp: float | Fraction | None = None) -> None:
        """Encode one RGB frame; ``timestamp`` (seconds) defaults to ``index / fps``.

        Example:
            >>> import tempfile, os
            >>> sink = VideoWriter(os.path.join(tempfile.mkdtemp(), "r.mp4"), 10, 32, 32, time_base=Fraction(1, 1000))
            >>> for t in (0.0, 0.1, 0.1, 0.2):  # the third repeats the second's time
            ...     sink.write(np.zeros((32, 32, 3), np.uint8), t)
            >>> sink.close(); sink.frames_written
            4
        """
        import av

        frame = np.ascontiguousarray(frame)
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValidationError(
                f"expected a ({self.height}, {self.width}, 3) uint8 RGB frame, "
                f"got {frame.shape} {frame.dtype}"
            )
        if timestamp is None:
            timestamp = self.frames_written / self.fps
        pts = round(Fraction(timestamp) / self.time_base)
        if self._last_pts is not None and pts == self._last_pts:
            pts += 1  # a repeated time (some files repeat them): one tick later keeps the frame
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValidationError(
                f"timestamps must increase by at least one tick of {self.time_base} s, "
                f"got {float(timestamp)} s"
            )
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = pts
        video_frame.time_base = self.time_base
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self._last_pts = pts
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent)."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
