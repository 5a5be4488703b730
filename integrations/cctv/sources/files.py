"""Recorded video as a CCTV source: a local file (replayed in real time or as fast as it
decodes) and any Python iterable of frames.

A file's wall clock starts at, in order of preference: the ``start_time`` you give; a time
parsed from the file name with ``time_pattern`` (NVRs name exports after their start, e.g.
``cam1_20260301_101500.mp4`` with ``"%Y%m%d_%H%M%S"``) in time zone ``tz``; the container's
``creation_time`` tag; the file's modification time minus its duration (a weak guess).
``stats.time_source`` says which one was used. In real-time replay with ``clock="replay"``
the file plays as if a camera were filming now.

Example:
    >>> import os, tempfile
    >>> from tubescope.synthetic import make_clip
    >>> from tubescope.integrations.cctv import FileSource
    >>> clip = make_clip(os.path.join(tempfile.mkdtemp(), "cam1_20260301_101500.mp4"), num_frames=5, fps=25)
    >>> source = FileSource(clip.path, time_pattern="%Y%m%d_%H%M%S", tz="UTC")
    >>> [f.wallclock.isoformat() for f in source][:2]
    ['2026-03-01T10:15:00+00:00', '2026-03-01T10:15:00.040000+00:00']
    >>> source.stats.time_source, source.stats.fps
    ('filename', Fraction(25, 1))
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from fractions import Fraction
from pathlib import Path

import numpy as np
from tubescope.errors import ValidationError, VideoError
from tubescope.integrations.cctv.errors import SourceError, SourceNotFoundError
from tubescope.integrations.cctv.sources.base import (
    LiveFrame,
    Source,
    local_path,
    utc_now,
    wallclock_at,
)
from tubescope.videowrite import as_fraction

__all__ = [
    "FileSource",
    "IterableSource",
    "file_start_time",
    "resolve_tz",
    "check_time_pattern",
    "time_pattern_warning",
    "probe_video_file",
]

log = logging.getLogger("tubescope.cctv")

_STRPTIME_FIELDS = {
    "%Y": r"\d{4}",
    "%m": r"\d{2}",
    "%d": r"\d{2}",
    "%H": r"\d{2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
    "%y": r"\d{2}",
    "%f": r"\d{1,6}",
    "%j": r"\d{3}",
    "%%": "%",
}


def resolve_tz(tz: str | tzinfo | None) -> tzinfo:
    """A tzinfo from a name (``"UTC"``, ``"Europe/Paris"``), a tzinfo, or None (this machine's zone)."""
    if tz is None:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    if isinstance(tz, tzinfo):
        return tz
    if tz.upper() in ("UTC", "Z"):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {tz!r} (use an IANA name such as 'Europe/Paris', or 'UTC')"
        ) from None


_TIME_FIELDS = ("%Y", "%m", "%d", "%H", "%M", "%S", "%y", "%j")


def check_time_pattern(pattern: str | None, field: str = "time_pattern") -> None:
    """Raise ValidationError unless ``pattern`` is a file-name time pattern we can read.

    Example:
        >>> check_time_pattern("%Y%m%d_%H%M%S")
        >>> check_time_pattern("cam_%Y-%q")
        Traceback (most recent call last):
        ...
        tubescope.errors.ValidationError: time_pattern 'cam_%Y-%q': unsupported directive %q (use %Y %m %d %H %M %S %y %f %j %%)
    """
    if pattern is None:
        return
    shown = f"{field} {pattern!r}"
    for directive in re.findall(r"%.?", pattern):
        if directive not in _STRPTIME_FIELDS:
            known = " ".join(_STRPTIME_FIELDS)
            raise ValidationError(f"unsupported directive {directive} (use {known})", shown)
    if not any(token in pattern for token in _TIME_FIELDS):
        raise ValidationError("has no date or time directive (e.g. %Y%m%d_%H%M%S)", shown)


def time_pattern_warning(
    name: str, pattern: str | None, tz: str | tzinfo | None = None
) -> str | None:
    """A one-line warning when ``pattern`` is given but cannot read a start time from ``name``."""
    if not pattern or _from_name(name, pattern, resolve_tz(tz)) is not None:
        return None
    return (
        f"time pattern {pattern!r} does not match {name}; its start time comes from the "
        "container's creation_time or the file's modification time instead"
    )


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        token = pattern[i : i + 2]
        if token in _STRPTIME_FIELDS:
            out.append(_STRPTIME_FIELDS[token])
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _from_name(name: str, pattern: str, tz: tzinfo) -> datetime | None:
    match = _pattern_regex(pattern).search(name)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match.group(0), pattern)
    except ValueError:
        return None
    return moment.replace(tzinfo=tz).astimezone(timezone.utc)


def probe_video_file(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` is not a readable video (None when its container opens with a video track)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "the file has no video track"
    except (av.FFmpegError, OSError) as err:
        return f"not a readable video file ({getattr(err, 'strerror', None) or err})"
    return None


def _creation_time(path: Path) -> datetime | None:
    import av

    try:
        with av.open(str(path)) as container:
            tag = container.metadata.get("creation_time")
    except (av.FFmpegError, OSError):
        return None
    if not tag:
        return None
    try:
        moment = datetime.fromisoformat(tag.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment.year < 1990:  # an unset tag written as the epoch
        return None
    return moment.astimezone(timezone.utc)


def file_start_time(
    path: str | os.PathLike[str],
    duration: float,
    *,
    time_pattern: str | None = None,
    tz: str | tzinfo | None = None,
) -> tuple[datetime, str]:
    """UTC wall clock of a recording's first frame, and where it came from.

    The source is ``"filename"``, ``"container"`` (the ``creation_time`` tag) or ``"mtime"``
    (modification time minus ``duration``).

    Example:
        >>> file_start_time("/x/cam1_20260301_101500.mp4", 10.0, time_pattern="%Y%m%d_%H%M%S", tz="UTC")
        (datetime.datetime(2026, 3, 1, 10, 15, tzinfo=datetime.timezone.utc), 'filename')
    """
    path = Path(path)
    if time_pattern:
        moment = _from_name(path.name, time_pattern, resolve_tz(tz))
        if moment is not None:
            return moment, "filename"
        log.warning("%s", time_pattern_warning(path.name, time_pattern, tz))
    moment = _creation_time(path) if path.exists() else None
    if moment is not None:
        return moment, "container"
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    return mtime - timedelta(seconds=duration), "mtime"


class FileSource(Source, kind="file", priority=30):
    """A local video file as a source.

    Args:
        path: the video file.
        realtime: pace frames at the file's own speed (like a camera) instead of as fast as
            they decode. A realtime replay is a *live* source: a slow watcher drops work
            rather than slowing it down.
        source_id: name used in events (default: the file name without extension).
        start_time: UTC wall clock of the first frame (overrides everything else).
        time_pattern, tz: parse the start from the file name (see the module docstring).
        clock: ``"file"`` (the recording's own time) or ``"replay"`` (now, when the
            replay starts); default ``"replay"`` when ``realtime`` else ``"file"``.
        loop: start again at the end (a new segment each time); realtime demos only.
    """

    @classmethod
    def accepts(cls, spec: str) -> bool:
        """An existing file (a path or a ``file://`` URL)."""
        path = local_path(spec)
        return path is not None and path.is_file()

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        realtime: bool = False,
        source_id: str | None = None,
        start_time: datetime | None = None,
        time_pattern: str | None = None,
        tz: str | tzinfo | None = None,
        clock: str | None = None,
        loop: bool = False,
    ) -> None:
        self.path = local_path(path) or Path(path)
        if not self.path.is_file():
            raise SourceNotFoundError(self.path, "no such video file")
        super().__init__(source_id or self.path.stem)
        if tz is not None:
            resolve_tz(tz)  # fail now, not at the first frame
        check_time_pattern(time_pattern)
        self.realtime = realtime
        self.is_live = realtime
        self.start_time = start_time
        self.time_pattern = time_pattern
        self.tz = tz
        self.clock = clock or ("replay" if realtime else "file")
        if self.clock not in ("file", "replay"):
            raise ValidationError(f"clock must be 'file' or 'replay', got {self.clock!r}")
        self.loop = loop

    def probe(self, timeout: float | None = None) -> list[str]:
        """The file opens as a video (container and a video track); warns when ``time_pattern`` misses."""
        problem = probe_video_file(self.path)
        if problem:
            raise SourceError(self.path, problem)
        if self.clock == "replay" or self.start_time is not None:
            return []
        warning = time_pattern_warning(self.path.name, self.time_pattern, self.tz)
        return [warning] if warning else []

    def frames(self) -> Iterator[LiveFrame]:
        segment = 0
        while not self._stop.is_set():
            yield from self._play(segment)
            segment += 1
            if not self.loop:
                break
        if self.stats.state not in ("failed",):
            self.stats.state = "stopped" if self._stop.is_set() else "ended"

    def _play(self, segment: int) -> Iterator[LiveFrame]:
        from tubescope.video import Video

        self.stats.state = "connecting"
        try:
            video = Video(self.path, backend="pyav")
        except VideoError as err:
            self.stats.state = "failed"
            self._error(str(err))
            raise SourceError(self.path, err.problem) from None
        with video:
            self.stats.fps = video.fps
            self.stats.width, self.stats.height = video.width, video.height
            self.stats.segments += 1
            if self.clock == "replay":
                anchor, self.stats.time_source = utc_now(), "replay"
            elif self.start_time is not None:
                anchor, self.stats.time_source = self.start_time.astimezone(timezone.utc), "given"
            else:
                anchor, self.stats.time_source = file_start_time(
                    self.path, video.duration, time_pattern=self.time_pattern, tz=self.tz
                )
            self.stats.state = "running"
            started = time.monotonic()
            try:
                for frame in video.iter_frames():
                    if self._stop.is_set():
                        return
                    if self.realtime:
                        ahead = started + frame.time - time.monotonic()
                        if ahead > 0 and self._stop.wait(ahead):
                            return
                    index = self.stats.frames
                    self.stats.frames += 1
                    yield LiveFrame(
                        index=index,
                        time=frame.time,
                        image=frame.image,
                        wallclock=wallclock_at(anchor, frame.time),
                        source_id=self.source_id,
                        segment=segment,
                        position=frame.index,
                        fps=video.fps,
                        file=str(self.path),
                    )
            except VideoError as err:
                self._error(str(err))
                raise SourceError(self.path, err.problem) from None
            self._end_segment(segment)

    def __repr__(self) -> str:
        mode = "realtime" if self.realtime else "fast"
        return f"FileSource({self.source_id!r}, path={str(self.path)!r}, {mode}, state={self.stats.state!r})"


class IterableSource(Source):
    """Frames from any Python iterable of ``(height, width, 3)`` uint8 RGB arrays.

    For custom producers (a capture card SDK, a simulator, tests). Frame ``i`` gets media time
    ``i / fps`` and wall clock ``start_time + i / fps`` (default start: when iteration
    begins). ``live=True`` tells the watcher to drop work rather than wait when it falls
    behind; ``realtime=True`` paces the frames at ``fps``.

    Example:
        >>> import numpy as np
        >>> frames = (np.full((8, 8, 3), i, np.uint8) for i in range(4))
        >>> [f.position for f in IterableSource(frames, fps=10, source_id="sim")]
        [0, 1, 2, 3]
    """

    def __init__(
        self,
        frames: Iterable[np.ndarray],
        *,
        fps: float | Fraction = 25,
        source_id: str = "frames",
        live: bool = False,
        realtime: bool = False,
        start_time: datetime | None = None,
    ) -> None:
        super().__init__(source_id)
        self._frames = frames
        self.fps = as_fraction(fps)
        self.is_live = live or realtime
        self.realtime = realtime
        self.start_time = start_time

    def frames(self) -> Iterator[LiveFrame]:
        self.stats.fps = self.fps
        self.stats.segments = 1
        self.stats.state = "running"
        anchor = self.start_time.astimezone(timezone.utc) if self.start_time else utc_now()
        self.stats.time_source = "given" if self.start_time else "receive"
        started = time.monotonic()
        for position, image in enumerate(self._frames):
            if self._stop.is_set():
                break
            media = Fraction(position) / self.fps
            if self.realtime:
                ahead = started + float(media) - time.monotonic()
                if ahead > 0 and self._stop.wait(ahead):
                    break
            if position == 0:
                self.stats.height, self.stats.width = image.shape[:2]
            index = self.stats.frames
            self.stats.frames += 1
            yield LiveFrame(
                index=index,
                time=float(media),
                image=image,
                wallclock=wallclock_at(anchor, media),
                source_id=self.source_id,
                segment=0,
                position=position,
                fps=self.fps,
            )
        if self.stats.frames and not self._stop.is_set():
            self._end_segment(0)
        self.stats.state = "stopped" if self._stop.is_set() else "ended"
