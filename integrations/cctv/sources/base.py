"""What every CCTV source shares: timed frames, the source protocol, counters, reconnect backoff.

A source is an iterable of :class:`LiveFrame` objects. Each frame carries three clocks:
``index`` (running count over the source's life, never reset), ``time`` (media seconds from
the start of its *segment*, read from the container's timestamps) and ``wallclock`` (a UTC,
timezone-aware :class:`~datetime.datetime`). A segment is one unbroken run of frames: one
connection to a camera (a reconnect starts a new one, because the camera's timeline restarts)
or one file of a folder. ``position`` is the frame's number inside its segment, so for files
it is the frame index in that file.

Example:
    >>> import numpy as np
    >>> from fractions import Fraction
    >>> from tubescope.integrations.cctv import IterableSource
    >>> source = IterableSource((np.zeros((4, 6, 3), np.uint8) for _ in range(3)), fps=Fraction(25))
    >>> [(f.index, f.time) for f in source]
    [(0, 0.0), (1, 0.04), (2, 0.08)]
"""

from __future__ import annotations

import inspect
import os
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import urlsplit

from tubescope.errors import ValidationError
from tubescope.video import Frame

__all__ = [
    "LiveFrame",
    "Source",
    "SourceStats",
    "Backoff",
    "SOURCE_KINDS",
    "utc_now",
    "isoformat_utc",
    "local_path",
]

#: Every source kind that :func:`~tubescope.integrations.cctv.open_source` can build from a
#: string, by name. A :class:`Source` subclass declared with ``kind="..."`` adds itself here.
SOURCE_KINDS: dict[str, type[Source]] = {}


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def isoformat_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z`` suffix (``2026-03-01T10:15:02.400000Z``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, eq=False)
class LiveFrame(Frame):
    """A decoded RGB frame of a CCTV source with its clocks.

    Attributes:
        index: running frame number over the source's whole life (never reset).
        time: media seconds from the first frame of the segment (container timestamps).
        image: ``(height, width, 3)`` uint8 RGB.
        wallclock: UTC capture time (see the source's ``time_source`` for how it was found).
        source_id: the source's name (never contains credentials).
        segment: which connection or file this frame belongs to (0, 1, ...).
        position: the frame's number inside its segment (the frame index in a file).
        fps: the segment's exact frame rate (a Fraction, e.g. 30000/1001), never truncated.
        file: the file the frame was decoded from, for file and folder sources.
    """

    wallclock: datetime = field(default_factory=utc_now)
    source_id: str = ""
    segment: int = 0
    position: int = 0
    fps: Fraction | None = None
    file: str | None = None

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        return (
            f"LiveFrame(index={self.index}, time={self.time:.3f}, wallclock={isoformat_utc(self.wallclock)}, "
            f"source_id={self.source_id!r}, segment={self.segment}, position={self.position}, {w}x{h})"
        )


@dataclass
class SourceStats:
    """Counters a source keeps while it runs (read them from any thread).

    ``state`` is one of ``"idle"``, ``"connecting"``, ``"running"``, ``"reconnecting"``,
    ``"waiting"`` (a folder with nothing new), ``"ended"``, ``"stopped"`` or ``"failed"``.
    """

    state: str = "idle"
    frames: int = 0
    segments: int = 0
    reconnects: int = 0
    disconnects: int = 0
    failed_attempts: int = 0
    errors: int = 0
    last_error: str | None = None
    fps: Fraction | None = None
    width: int | None = None
    height: int | None = None
    time_source: str | None = None
    files_done: int = 0
    files_skipped: int = 0
    bad_files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values (fps as ``"num/den"``)."""
        out = dict(self.__dict__)
        out["fps"] = None if self.fps is None else f"{self.fps.numerator}/{self.fps.denominator}"
        out["bad_files"] = list(self.bad_files)
        return out


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays with jitter.

    The n-th consecutive failed attempt (0-based) waits ``min(maximum, initial * factor**n)``
    seconds, scattered by ``±jitter`` (a fraction) so that many cameras restarting together
    do not reconnect in lockstep. The count resets once a connection delivers frames.

    Example:
        >>> b = Backoff(initial=0.5, maximum=30, factor=2, jitter=0)
        >>> [b.delay(n) for n in range(8)]
        [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30, 30]
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValidationError(
                f"backoff needs 0 < initial <= maximum, got initial={self.initial}, maximum={self.maximum}"
            )
        if self.factor < 1:
            raise ValidationError(f"backoff factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValidationError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        if not self.jitter:
            return base
        return base * (1 + (rng or random).uniform(-self.jitter, self.jitter))


def local_path(spec: str | os.PathLike[str]) -> Path | None:
    """The local path a source string names (a plain path or a ``file://`` URL); None for other URLs.

    Example:
        >>> local_path("file:///mnt/nvr/cam1"), local_path("rtsp://cam/live")
        (PosixPath('/mnt/nvr/cam1'), None)
    """
    text = os.fspath(spec)
    if "://" not in text:
        return Path(text)
    parts = urlsplit(text)
    return Path(parts.path) if parts.scheme.lower() == "file" else None


class Source(ABC):
    """A stream of :class:`LiveFrame` objects; iterate it, and :meth:`stop` it from any thread.

    ``is_live`` sources (cameras, realtime replays) cannot wait for a slow consumer: the
    :class:`~tubescope.integrations.cctv.Watcher` drops work for them rather than blocking.
    :meth:`stop` always works, in every state (before the first connect, while connecting,
    during a backoff wait, after a failure) and more than once.

    **A new source kind** is one module: subclass ``Source`` with ``kind="name"`` (and
    ``priority``, lower tried first), implement :meth:`frames`, and override
    :meth:`accepts` (does a string name this kind of source?) and, if it can check anything
    cheaply, :meth:`probe`. :func:`~tubescope.integrations.cctv.open_source` and
    ``tubescope watch`` then use it; the constructor's keyword arguments are the options it
    takes (``open_source`` passes only those).

    Example:
        >>> class Blank(Source, kind="blank-example"):
        ...     @classmethod
        ...     def accepts(cls, spec):
        ...         return spec == "blank:"
        ...     def __init__(self, spec, *, source_id="blank"):
        ...         super().__init__(source_id)
        ...     def frames(self):
        ...         return iter(())
        >>> SOURCE_KINDS["blank-example"] is Blank
        True
        >>> del SOURCE_KINDS["blank-example"]
    """

    source_id: str
    is_live: bool = False
    #: the registered kind name (None: not buildable from a string, e.g. IterableSource).
    kind: ClassVar[str | None] = None
    #: dispatch order among kinds: lower is tried first.
    priority: ClassVar[int] = 100
    #: URL schemes this kind reads (for the "unsupported scheme" message).
    schemes: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, kind: str | None = None, priority: int = 100, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is None:
            return
        registered = SOURCE_KINDS.get(kind)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if registered is not None and f"{registered.__module__}.{registered.__qualname__}" != name:
            raise ValidationError(f"source kind {kind!r} is already taken by {registered.__qualname__}")
        cls.kind = kind
        cls.priority = priority
        SOURCE_KINDS[kind] = cls

    @classmethod
    def accepts(cls, spec: str) -> bool:
        """Does ``spec`` (a URL or a path) name a source of this kind? (False by default.)"""
        return False

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """The keyword options this kind's constructor takes."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return frozenset(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> Source:
        """Build from a string; options this kind does not take (or set to None) are ignored."""
        names = cls.option_names()
        return cls(spec, **{k: v for k, v in options.items() if k in names and v is not None})

    def probe(self, timeout: float | None = None) -> list[str]:
        """Check cheaply, before any model loads, that the source can be read.

        Raises the source's typed :class:`~tubescope.integrations.cctv.SourceError` (wrong
        credentials, no such stream, unreachable, not a video, ...); returns warnings (one
        line each) about things that work but not as asked. Nothing to check by default.
        """
        return []

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self.stats = SourceStats()
        self._stop = threading.Event()
        self._segment_listeners: list[Callable[[int], None]] = []

    @abstractmethod
    def frames(self) -> Iterator[LiveFrame]:
        """Yield frames until the source ends or :meth:`stop` is called."""

    def __iter__(self) -> Iterator[LiveFrame]:
        return self.frames()

    def stop(self) -> None:
        """Ask the source to stop; iteration ends at the next frame or within the read timeout."""
        self._stop.set()
        if self.stats.state not in ("ended", "failed"):
            self.stats.state = "stopped"

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def on_segment_end(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(segment)`` (on the iterating thread) right after a segment's last frame.

        A segment ends when a file is finished or a connection is lost; the watcher uses this
        to close the current window at once instead of waiting for the next segment's frames.
        """
        self._segment_listeners.append(listener)

    def _end_segment(self, segment: int) -> None:
        for listener in self._segment_listeners:
            listener(segment)

    def mark_done(self, segment: int) -> None:
        """Called by the watcher once every window of ``segment`` has been handled.

        File-based sources record the segment's file as processed; live sources ignore it.
        """

    #: True for sources that play an interrupted segment again after a restart (a folder's
    #: file): the watcher then keeps a progress record per segment through the two methods below.
    resumable: ClassVar[bool] = False

    def resume_record(self, segment: int) -> dict[str, Any] | None:
        """The progress record an interrupted run left for ``segment`` (None: a fresh start)."""
        return None

    def save_progress(self, segment: int, record: dict[str, Any]) -> None:
        """Keep ``record`` (plain JSON values) for ``segment`` until :meth:`mark_done`, durably."""

    def _error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source_id!r}, state={self.stats.state!r})"


class MediaClock:
    """Turns decoded-frame timestamps into monotonic media seconds within one segment.

    Frames with no timestamp continue the sequence at ``1 / fps``; a timestamp that goes
    backwards or repeats re-bases the clock one frame after the previous frame, so media time
    always increases.
    """

    def __init__(self, fps: Fraction) -> None:
        self.step = 1 / fps
        self.base: Fraction | None = None  # stream time (seconds) of media time 0
        self.last: Fraction | None = None

    def time_of(self, stamp: Fraction | None) -> Fraction:
        """Media seconds of a frame whose container time is ``stamp`` (seconds, or None)."""
        expected = Fraction(0) if self.last is None else self.last + self.step
        if stamp is None:
            value = expected
        else:
            if self.base is None:
                self.base = stamp - expected
            value = stamp - self.base
            if self.last is not None and value <= self.last:
                self.base = stamp - expected
                value = expected
        self.last = value
        return value


def wallclock_at(anchor: datetime, seconds: Fraction | float) -> datetime:
    """``anchor`` plus media ``seconds``."""
    return anchor + timedelta(seconds=float(seconds))
