"""Cutting an endless stream of frames into clips ("windows") to ground.

Two ways to cut, both with memory bounded by the window size:

- :class:`FixedWindows` — back-to-back windows of ``length`` seconds that overlap by
  ``overlap`` seconds, so an action that crosses a cut is seen whole in one of them. At most
  one window of frames is buffered.
- :class:`MotionWindows` — windows only around motion (MOG2 background subtraction, see
  :mod:`~tubescope.integrations.cctv.motion`): ``pre_roll`` seconds before the first moving
  frame, until ``post_roll`` seconds of stillness, split at ``max_length`` (with ``overlap``)
  when motion goes on. At most ``pre_roll`` (idle) or ``max_length`` (active) seconds of
  frames are buffered.

A window never spans two segments (a reconnect or a new file): the gap is a gap, and the
window in progress is closed at the segment's end. ``sample_fps`` keeps only every k-th frame
(k = round(fps / sample_fps)) for cheaper grounding and smaller buffers; the window's fps is
then exactly ``fps / k``.

Example:
    >>> import numpy as np
    >>> from tubescope.integrations.cctv import FixedWindows, IterableSource
    >>> source = IterableSource((np.zeros((8, 8, 3), np.uint8) for _ in range(25)), fps=5)
    >>> cutter = FixedWindows(length=2, overlap=1).cutter()
    >>> cut = [w for f in source for w in cutter.push(f)] + cutter.end_segment(0)
    >>> [(w.start_index, w.end_index) for w in cut if isinstance(w, Window)]
    [(0, 10), (5, 15), (10, 20), (15, 25)]
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
from tubescope.errors import ValidationError
from tubescope.integrations.cctv.motion import MotionDetector
from tubescope.integrations.cctv.sources.base import LiveFrame, isoformat_utc

if TYPE_CHECKING:
    from tubescope.video import Video

__all__ = [
    "Window",
    "SegmentEnd",
    "WindowSpec",
    "FixedWindows",
    "MotionWindows",
    "Cutter",
    "parse_duration",
]

_FALLBACK_FPS = Fraction(25)
_DURATION = re.compile(
    r"^\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|sec|m|min|h)?\s*$", re.IGNORECASE
)
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str | float | int, field: str = "duration") -> float:
    """Seconds from ``"10s"``, ``"500ms"``, ``"1.5m"``, ``"2h"`` or a bare number of seconds.

    Example:
        >>> parse_duration("10s"), parse_duration("500ms"), parse_duration("1.5m"), parse_duration(3)
        (10.0, 0.5, 90.0, 3.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise ValidationError(f"not a duration: {text!r} (use e.g. 10s, 500ms, 1.5m)", field)
        value = float(match.group("value")) * _UNITS[(match.group("unit") or "").lower() or None]
    if value < 0:
        raise ValidationError(f"must not be negative, got {value}", field)
    return value


@dataclass(frozen=True, eq=False)
class Window:
    """A clip of consecutive frames of one segment, ready to ground.

    Attributes:
        window_id: running number (per watcher).
        source_id, segment: where the frames come from.
        frames: the frames, oldest first (window frame ``i`` is ``frames[i]``).
        fps: the clip's exact frame rate.
        kind: ``"fixed"`` or ``"motion"``.
        next_start: the smallest source frame index a *later* window of this segment can
            start at; None when this is the segment's last window. Events that end before it
            cannot be seen again and are emitted at once.
    """

    window_id: int
    source_id: str
    segment: int
    frames: tuple[LiveFrame, ...]
    fps: Fraction
    kind: str
    next_start: int | None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def start_index(self) -> int:
        """Source index of the first frame."""
        return self.frames[0].index

    @property
    def end_index(self) -> int:
        """Source index one past the last frame (half-open, like spans)."""
        return self.frames[-1].index + 1

    @property
    def start(self) -> datetime:
        """UTC wall clock of the first frame."""
        return self.frames[0].wallclock

    @property
    def end(self) -> datetime:
        """UTC wall clock at the end of the last frame."""
        return self.frames[-1].wallclock + timedelta(seconds=float(1 / self.fps))

    @property
    def duration(self) -> float:
        return len(self.frames) / float(self.fps)

    @property
    def file(self) -> str | None:
        return self.frames[0].file

    def images(self) -> np.ndarray:
        """The frames as one ``(n, height, width, 3)`` uint8 RGB array (a copy)."""
        return np.stack([f.image for f in self.frames])

    def to_video(self) -> Video:
        """The window as an in-memory :class:`~tubescope.video.Video` at its exact fps."""
        from tubescope.video import Video

        return Video(self.images(), fps=self.fps)

    def __repr__(self) -> str:
        return (
            f"Window(#{self.window_id}, {self.source_id!r}, segment={self.segment}, "
            f"frames=[{self.start_index}, {self.end_index}), {len(self)} @ {float(self.fps):g} fps, "
            f"{isoformat_utc(self.start)}, {self.kind})"
        )


@dataclass(frozen=True)
class SegmentEnd:
    """Marker: every window of ``segment`` has been cut (a file ended, a connection was lost)."""

    segment: int


class Cutter(ABC):
    """Stateful window cutter for one source (made by :meth:`WindowSpec.cutter`)."""

    def __init__(self, sample_fps: float | None) -> None:
        self.sample_fps = sample_fps
        self.segment: int | None = None
        self.step = 1
        self.fps = _FALLBACK_FPS
        self._next_id = 0
        self.frames_skipped = 0  # frames thinned out by sample_fps

    # ------------------------------------------------------------------ public
    def push(self, frame: LiveFrame) -> list[Window | SegmentEnd]:
        """Feed one frame; returns the windows (and segment markers) it completes."""
        out: list[Window | SegmentEnd] = []
        if frame.segment != self.segment:
            if self.segment is not None:
                out += self.end_segment(self.segment)
            self._begin(frame)
        if frame.position % self.step:
            self.frames_skipped += 1
            return out
        out += self._push(frame)
        return out

    def end_segment(self, segment: int) -> list[Window | SegmentEnd]:
        """Close the segment: its last (partial) window, then a :class:`SegmentEnd` marker."""
        if segment != self.segment:
            return []
        out: list[Window | SegmentEnd] = list(self._close())
        out.append(SegmentEnd(segment))
        self.segment = None
        return out

    @property
    @abstractmethod
    def buffered(self) -> int:
        """Frames held right now."""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """The most frames this cutter can hold (for the current segment's fps)."""

    # ------------------------------------------------------------------ helpers
    def _begin(self, frame: LiveFrame) -> None:
        self.segment = frame.segment
        fps = frame.fps or _FALLBACK_FPS
        self.step = 1 if not self.sample_fps else max(1, round(float(fps) / self.sample_fps))
        self.fps = Fraction(fps) / self.step
        self._reset()

    def _frames(self, seconds: float) -> int:
        return max(0, round(seconds * self.fps))

    def _window(self, frames: list[LiveFrame], kind: str, next_start: int | None) -> Window:
        window = Window(
            window_id=self._next_id,
            source_id=frames[0].source_id,
            segment=frames[0].segment,
            frames=tuple(frames),
            fps=self.fps,
            kind=kind,
            next_start=next_start,
        )
        self._next_id += 1
        return window

    @abstractmethod
    def _reset(self) -> None: ...

    @abstractmethod
    def _push(self, frame: LiveFrame) -> list[Window | SegmentEnd]: ...

    @abstractmethod
    def _close(self) -> list[Window]: ...


class WindowSpec(ABC):
    """How to cut windows; :meth:`cutter` makes the stateful cutter for one source."""

    @abstractmethod
    def cutter(self) -> Cutter: ...


# ---------------------------------------------------------------------- fixed


@dataclass(frozen=True)
class FixedWindows(WindowSpec):
    """Windows of ``length`` seconds every ``length - overlap`` seconds.

    Args:
        length: window length in seconds (or a string such as ``"10s"``).
        overlap: seconds shared by consecutive windows (less than ``length``).
        sample_fps: keep about this many frames per second (None: all).
        min_length: a segment's last, partial window is grounded only if it lasts at least
            this long (seconds).

    Example:
        >>> FixedWindows("10s", "2s")
        FixedWindows(length=10.0, overlap=2.0, sample_fps=None, min_length=1.0)
    """

    length: float = 10.0
    overlap: float = 2.0
    sample_fps: float | None = None
    min_length: float = 1.0

    def __post_init__(self) -> None:
        length = parse_duration(self.length, "window.length")
        overlap = parse_duration(self.overlap, "window.overlap")
        if length <= 0:
            raise ValidationError("must be positive", "window.length")
        if overlap >= length:
            raise ValidationError(
                f"{overlap:g} s must be shorter than the window length {length:g} s",
                "window.overlap",
            )
        if self.sample_fps is not None and self.sample_fps <= 0:
            raise ValidationError(f"must be positive, got {self.sample_fps}", "window.sample_fps")
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "overlap", overlap)
        object.__setattr__(self, "min_length", parse_duration(self.min_length, "window.min_length"))

    def cutter(self) -> Cutter:
        return _FixedCutter(self)


class _FixedCutter(Cutter):
    def __init__(self, spec: FixedWindows) -> None:
        super().__init__(spec.sample_fps)
        self.spec = spec
        self._buffer: list[LiveFrame] = []
        self._fresh = 0  # frames not yet in any emitted window
        self.length = self.overlap = 0

    def _reset(self) -> None:
        self._buffer = []
        self._fresh = 0
        self.length = max(1, self._frames(self.spec.length))
        self.overlap = min(self._frames(self.spec.overlap), self.length - 1)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def capacity(self) -> int:
        return max(self.length, 1)

    def _push(self, frame: LiveFrame) -> list[Window | SegmentEnd]:
        self._buffer.append(frame)
        self._fresh += 1
        if len(self._buffer) < self.length:
            return []
        keep = self._buffer[self.length - self.overlap :] if self.overlap else []
        next_start = keep[0].index if keep else frame.index + 1
        window = self._window(self._buffer, "fixed", next_start)
        self._buffer = list(keep)
        self._fresh = 0
        return [window]

    def _close(self) -> list[Window]:
        out = []
        if self._fresh and len(self._buffer) >= max(1, self._frames(self.spec.min_length)):
            out.append(self._window(self._buffer, "fixed", None))
        self._buffer = []
        self._fresh = 0
        return out


# ---------------------------------------------------------------------- motion


@dataclass(frozen=True)
class MotionWindows(WindowSpec):
    """Windows around motion, found by background subtraction.

    Args:
        pre_roll: seconds kept before the first moving frame.
        post_roll: seconds of stillness that close the window.
        max_length: longest window; longer motion is split into windows that overlap by
            ``overlap`` seconds.
        overlap: overlap of split windows.
        threshold: foreground fraction that counts as motion (see :class:`MotionDetector`).
        sample_fps: keep about this many frames per second (also the analysis rate).
        min_length: shortest window worth grounding (seconds).
        analysis_width: width in pixels of the frames given to the background model.

    Example:
        >>> MotionWindows(pre_roll="2s", post_roll="3s").max_length
        30.0
    """

    pre_roll: float = 2.0
    post_roll: float = 3.0
    max_length: float = 30.0
    overlap: float = 2.0
    threshold: float = 0.002
    sample_fps: float | None = None
    min_length: float = 1.0
    analysis_width: int = 160

    def __post_init__(self) -> None:
        for name in ("pre_roll", "post_roll", "max_length", "overlap", "min_length"):
            object.__setattr__(self, name, parse_duration(getattr(self, name), f"window.{name}"))
        if self.max_length <= 0:
            raise ValidationError("must be positive", "window.max_length")
        if self.overlap >= self.max_length:
            raise ValidationError(
                f"{self.overlap:g} s must be shorter than max_length {self.max_length:g} s",
                "window.overlap",
            )
        if self.pre_roll >= self.max_length:
            raise ValidationError(
                f"{self.pre_roll:g} s must be shorter than max_length", "window.pre_roll"
            )
        if self.sample_fps is not None and self.sample_fps <= 0:
            raise ValidationError(f"must be positive, got {self.sample_fps}", "window.sample_fps")

    def cutter(self) -> Cutter:
        return _MotionCutter(self)


class _MotionCutter(Cutter):
    def __init__(self, spec: MotionWindows) -> None:
        super().__init__(spec.sample_fps)
        self.spec = spec
        self.detector = MotionDetector(width=spec.analysis_width, threshold=spec.threshold)
        self._pre: deque[LiveFrame] = deque()
        self._active: list[LiveFrame] | None = None
        self._fresh = 0
        self._quiet = 0
        self.max_frames = self.overlap = self.post = 1

    def _reset(self) -> None:
        self.detector.reset()
        self._pre = deque(maxlen=max(1, self._frames(self.spec.pre_roll) + 1))
        self._active = None
        self._fresh = 0
        self._quiet = 0
        self.max_frames = max(2, self._frames(self.spec.max_length))
        self.overlap = min(self._frames(self.spec.overlap), self.max_frames - 1)
        self.post = max(1, self._frames(self.spec.post_roll))

    @property
    def buffered(self) -> int:
        return len(self._pre) + (len(self._active) if self._active else 0)

    @property
    def capacity(self) -> int:
        return max(self.max_frames, self._pre.maxlen or 1)

    @property
    def active(self) -> bool:
        """True while a motion window is open."""
        return self._active is not None

    def _push(self, frame: LiveFrame) -> list[Window | SegmentEnd]:
        moving = self.detector.is_moving(frame.image)
        if self._active is None:
            self._pre.append(frame)
            if not moving:
                return []
            self._active = list(self._pre)
            self._pre.clear()
            self._fresh = len(self._active)
            self._quiet = 0
            return []
        self._active.append(frame)
        self._fresh += 1
        self._quiet = 0 if moving else self._quiet + 1
        if self._quiet >= self.post:
            window = self._window(self._active, "motion", frame.index + 1)
            self._active = None
            self._fresh = 0
            return [window]
        if len(self._active) >= self.max_frames:
            keep = self._active[len(self._active) - self.overlap :] if self.overlap else []
            window = self._window(
                self._active, "motion", keep[0].index if keep else frame.index + 1
            )
            self._active = list(keep)
            self._fresh = 0
            return [window]
        return []

    def _close(self) -> list[Window]:
        out = []
        if (
            self._active
            and self._fresh
            and len(self._active) >= max(1, self._frames(self.spec.min_length))
        ):
            out.append(self._window(self._active, "motion", None))
        self._active = None
        self._pre.clear()
        self._fresh = 0
        return out
