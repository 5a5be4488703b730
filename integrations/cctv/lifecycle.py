"""The life of an event: ``open`` at once, ``update`` while it goes on, ``close`` with the whole tube.

:class:`EventTracker` receives, window after window, what each window found for each query
(:func:`~tubescope.integrations.cctv.events_from_results`) and returns the event lines to
write, in order:

- **open**: a finding that continues no open event starts one. Its ``open`` line is written
  at the end of that window (the first confident window), so an alert never waits for the
  happening to end.
- **join**: overlapping or adjacent windows that see the same target (same query and
  segment, touching frames, boxes that agree) extend the same event; on frames two windows
  both saw, the stronger finding's box wins as long as the frame is not written yet.
- **update**: while the event goes on, an ``update`` line is written once ``update_every``
  seconds of video have been added since its previous line.
- **close**: when no later window can continue it (the target is gone), when its file or
  connection ends, when the watcher stops, or when it reaches ``max_event`` seconds. A
  longer happening goes on as a new event whose ``previous`` names the closed one.

Every line has the event's ``event_id``, ``state`` and ``revision`` (0, 1, 2, ... per event).
``open`` and ``update`` lines carry the frames, boxes, windows and clips added since the
event's previous line; the ``close`` line carries the whole tube. Memory per open event is
bounded: only rows not written yet (at most ``update_every`` seconds plus one window) stay
in memory; the rows already written wait in an unnamed temporary file (gone with the process)
until the ``close`` line needs them.

Frames a later window can still see (from the window's ``next_start`` on) are held back from
``open`` and ``update`` lines, so a stronger box seen by the next window can still replace
them; every other written row is final.

Example:
    >>> from datetime import datetime, timedelta, timezone
    >>> from fractions import Fraction
    >>> import numpy as np
    >>> from tubescope.integrations.cctv import LiveFrame, Window
    >>> t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> def window(k, n=10):  # back-to-back 1 s windows at 10 fps
    ...     frames = tuple(LiveFrame(index=i, time=i / 10, image=np.zeros((4, 4, 3), np.uint8),
    ...                              wallclock=t0 + timedelta(seconds=i / 10), source_id="gate",
    ...                              fps=Fraction(10), position=i) for i in range(k * n, k * n + n))
    ...     return Window(k, "gate", 0, frames, Fraction(10), "fixed", (k + 1) * n)
    >>> def seen(win):  # the target fills every frame of the window
    ...     return Event(source_id="gate", query="a van", start=win.start, end=win.end, score=0.9,
    ...                  frames=tuple(f.index for f in win.frames), positions=tuple(f.position for f in win.frames),
    ...                  times=tuple(f.wallclock for f in win.frames), boxes=((0, 0, 2, 2),) * len(win),
    ...                  windows=(win.window_id,))
    >>> tracker = EventTracker(update_every=2.0, max_event=60.0)
    >>> lines = []
    >>> for k in range(5):
    ...     win = window(k)
    ...     lines += tracker.add(win, [seen(win)])
    >>> lines += tracker.flush()
    >>> [(e.state, e.revision, len(e.frames)) for e in lines]
    [('open', 0, 10), ('update', 1, 20), ('update', 2, 20), ('close', 3, 50)]
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO

import numpy as np
from tubescope.errors import ValidationError
from tubescope.eval.boxes import box_iou
from tubescope.integrations.cctv.events import Event
from tubescope.integrations.cctv.sources.base import isoformat_utc
from tubescope.integrations.cctv.windows import Window

__all__ = ["EventTracker", "Known"]

Box = tuple[float, float, float, float]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Known:
    """What an events file already holds of one event (read back after a restart).

    ``revision`` and ``state`` are those of its last line, ``reason`` that line's close
    reason, ``through`` the highest ``position`` written for it (-1: none).
    """

    revision: int
    state: str
    reason: str | None = None
    through: int = -1

    @property
    def final(self) -> bool:
        """Closed for good (not merely because a watcher stopped in the middle of it)."""
        return self.state == "close" and self.reason != "stopped"


@dataclass
class _Row:
    position: int
    time: datetime
    box: Box
    score: float


class _Spool:
    """The rows, windows and clips of an event already written, for its ``close`` line.

    An unnamed temporary file (deleted by the system when closed, or when the process dies).
    """

    def __init__(self) -> None:
        self._file: IO[str] | None = None

    def add(
        self, rows: Sequence[tuple[int, _Row]], windows: Sequence[int], clips: Sequence[str]
    ) -> None:
        if not rows and not windows and not clips:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - kept open
        packed = [
            [frame, row.position, _micros(row.time), *row.box, row.score] for frame, row in rows
        ]
        self._file.write(json.dumps([packed, list(windows), list(clips)]) + "\n")

    def read(self) -> tuple[list[tuple[int, _Row]], list[int], list[str]]:
        rows: list[tuple[int, _Row]] = []
        windows: list[int] = []
        clips: list[str] = []
        if self._file is None:
            return rows, windows, clips
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            packed, more_windows, more_clips = json.loads(line)
            for frame, position, micros, x1, y1, x2, y2, score in packed:
                moment = _EPOCH + timedelta(microseconds=micros)
                rows.append((frame, _Row(position, moment, (x1, y1, x2, y2), score)))
            windows += more_windows
            clips += more_clips
        self._file.seek(0, 2)
        return rows, windows, clips

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(eq=False)
class _Open:
    """One open event (or a continuation waiting for its first frame)."""

    query: str
    source_id: str
    segment: int
    file: str | None
    previous: str | None = None
    through: int = -1  # source frames up to here are final (written, or the predecessor's)
    start: datetime | None = None
    end: datetime | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    last_box: Box | None = None
    score: float = 0.0
    track_id: int | str | None = None
    pending: dict[int, _Row] = field(default_factory=dict)  # not written yet
    reference: dict[int, Box] = field(default_factory=dict)  # a predecessor's unwritten tail
    windows: list[int] = field(default_factory=list)
    clips: list[str] = field(default_factory=list)
    event_id: str | None = None
    revision: int = -1  # of the last line written
    written_end: datetime | None = None
    spool: _Spool = field(default_factory=_Spool)
    resumed: bool = False  # the events file already has lines of it (a restart)
    silent: bool = False  # ... and they close it for good: write nothing more
    skip_through: int = -1  # ... and they hold its positions up to here

    @property
    def started(self) -> bool:
        return self.start is not None

    @property
    def opened(self) -> bool:
        return self.revision >= 0

    @property
    def held(self) -> int:
        return len(self.pending) + len(self.reference) + len(self.windows) + len(self.clips)

    def boxes_near(self) -> dict[int, Box]:
        out = dict(self.reference)
        out.update((frame, row.box) for frame, row in self.pending.items())
        return out

    def absorb(self, finding: Event) -> None:
        """Join one window's finding (frames already final are ignored)."""
        rows = [
            (frame, position, moment, box)
            for frame, position, moment, box in zip(
                finding.frames, finding.positions, finding.times, finding.boxes
            )
            if frame > self.through
        ]
        if finding.frames and not rows:
            return  # everything it saw is final already (or belongs to the predecessor)
        score = float(finding.score)
        for frame, position, moment, box in rows:
            held = self.pending.get(frame)
            if held is None or score > held.score:
                self.pending[frame] = _Row(position, moment, box, score)
        if rows:
            first_time = rows[0][2]
            if self.start is None or first_time < self.start:
                self.start = first_time
                self.first_frame = rows[0][0]
            if self.last_frame is None or rows[-1][0] >= self.last_frame:
                self.last_frame = rows[-1][0]
                self.last_box = rows[-1][3]
        elif not finding.frames and self.start is None:  # a finding without boxes: times only
            self.start = finding.start
        if self.started and (self.end is None or finding.end > self.end):
            self.end = finding.end
        if score >= self.score:
            self.score = score
            self.track_id = finding.track_id
        self.windows += [w for w in finding.windows if w not in self.windows]
        self.clips += [c for c in finding.clips if c not in self.clips]


class EventTracker:
    """Turns each window's findings into ``open`` / ``update`` / ``close`` event lines.

    Args:
        update_every: seconds of video between two lines of an event that goes on.
        max_event: the longest event in seconds of video; a longer happening is closed
            (reason ``max_event``) and continues as a new event naming it in ``previous``.
        iou: box agreement needed to call two findings the same target.

    Counters: ``opened`` (events opened), ``merged`` (findings that continued an open event),
    ``lines`` (lines returned). :attr:`held` is the event state kept in memory (rows, windows
    and clips not written yet, over all open events) and ``peak`` the most it ever was (taken
    after a window's findings are joined, before its lines are written).
    """

    def __init__(
        self, *, update_every: float = 10.0, max_event: float = 300.0, iou: float = 0.3
    ) -> None:
        if not update_every > 0:
            raise ValidationError(f"update_every must be positive (seconds), got {update_every}")
        if not max_event > 0:
            raise ValidationError(f"max_event must be positive (seconds), got {max_event}")
        if not 0.0 <= iou <= 1.0:
            raise ValidationError(f"iou must be in [0, 1], got {iou}")
        self.update_every = float(update_every)
        self.max_event = float(max_event)
        self.iou = iou
        self._open: list[_Open] = []
        self._known: dict[str, Known] = {}
        self.opened = 0
        self.merged = 0
        self.lines = 0
        self.peak = 0

    # ------------------------------------------------------------------ state
    @property
    def open_events(self) -> int:
        """Events opened and not closed yet."""
        return sum(1 for ev in self._open if ev.opened or ev.silent)

    @property
    def held(self) -> int:
        """Rows, windows and clips held in memory for open events (the bounded part)."""
        return sum(ev.held for ev in self._open)

    def resume(self, known: Mapping[str, Known]) -> None:
        """Events an events file already holds (a folder file processed again after a restart).

        Such an event is not opened a second time: if its last line closed it for good
        nothing more is written; otherwise it continues with higher revisions, and its
        ``update`` lines skip the positions already written.
        """
        self._known.update(known)

    def forget_known(self) -> None:
        """Drop what :meth:`resume` was told (the re-processed file is done)."""
        self._known.clear()

    # ------------------------------------------------------------------ matching
    def _same_target(self, ev: _Open, finding: Event) -> bool:
        if ev.query != finding.query or ev.segment != finding.segment:
            return False
        if not finding.frames or ev.last_frame is None:
            if ev.start is None or ev.end is None:
                return False
            return ev.start <= finding.end and finding.start <= ev.end
        if finding.frames[0] > ev.last_frame + 1:
            return False
        if ev.first_frame is not None and ev.first_frame > finding.frames[-1] + 1:
            return False
        near = ev.boxes_near()
        common = [k for k, frame in enumerate(finding.frames) if frame in near]
        if common:
            mine = np.asarray([near[finding.frames[k]] for k in common], dtype=np.float64)
            theirs = np.asarray([finding.boxes[k] for k in common], dtype=np.float64)
            return float(box_iou(mine, theirs).mean()) >= self.iou
        if ev.last_box is None:
            return False
        after = [k for k, frame in enumerate(finding.frames) if frame > ev.last_frame]
        box = finding.boxes[after[0]] if after else finding.boxes[-1]
        seam = box_iou(np.asarray([ev.last_box], np.float64), np.asarray([box], np.float64))
        return float(seam[0]) >= self.iou

    # ------------------------------------------------------------------ input
    def add(self, window: Window, findings: Sequence[Event]) -> list[Event]:
        """Join ``window``'s findings; return the lines to write now (in order)."""
        for finding in findings:
            target = next((ev for ev in self._open if self._same_target(ev, finding)), None)
            if target is None:
                target = _Open(
                    query=finding.query,
                    source_id=finding.source_id,
                    segment=finding.segment,
                    file=finding.file,
                )
                self._open.append(target)
            elif target.started:
                self.merged += 1
            target.absorb(finding)
        self.peak = max(self.peak, self.held)
        lines: list[Event] = []
        for ev in list(self._open):
            if ev.segment != window.segment:
                lines += self._close(ev, "segment")
                continue
            extendable = (
                window.next_start is not None
                and ev.last_frame is not None
                and ev.last_frame + 1 >= window.next_start
            )
            if not ev.started:  # a continuation that has not seen its first frame
                if not extendable:
                    self._drop(ev)
                continue
            if not extendable:
                lines += self._close(ev, "ended" if window.next_start is not None else "segment")
            elif self._duration(ev) >= self.max_event:
                lines += self._close(ev, "max_event", tail_from=window.next_start)
            elif not ev.opened and not ev.silent:
                lines += self._write(ev, "open", window.next_start)
            elif (
                ev.written_end is None
                or (ev.end - ev.written_end).total_seconds() >= self.update_every
            ):
                lines += self._write(ev, "update", window.next_start)
        return lines

    def end_segment(self, segment: int) -> list[Event]:
        """Close every event of ``segment`` (and of older segments): its file or connection ended."""
        lines: list[Event] = []
        for ev in list(self._open):
            if ev.segment <= segment:
                lines += self._close(ev, "segment")
        return lines

    def flush(self) -> list[Event]:
        """Close everything still open (the watcher stops)."""
        lines: list[Event] = []
        for ev in list(self._open):
            lines += self._close(ev, "stopped")
        return lines

    # ------------------------------------------------------------------ output
    @staticmethod
    def _duration(ev: _Open) -> float:
        assert ev.start is not None and ev.end is not None
        return (ev.end - ev.start).total_seconds()

    def _assign_id(self, ev: _Open) -> None:
        assert ev.start is not None
        key = f"{ev.source_id}\n{ev.query}\n{isoformat_utc(ev.start)}"
        event_id = hashlib.sha1(key.encode()).hexdigest()[:16]
        if any(other.event_id == event_id for other in self._open if other is not ev):
            # two targets of one query starting on the same frame: tell them apart by place
            key += f"\n{ev.pending[ev.first_frame].box if ev.first_frame in ev.pending else ''}"
            event_id = hashlib.sha1(key.encode()).hexdigest()[:16]
        ev.event_id = event_id
        known = self._known.get(event_id)
        if known is None:
            self.opened += 1
        else:
            ev.resumed = True
            ev.revision = known.revision
            ev.silent = known.final
            ev.skip_through = known.through

    def _take(self, ev: _Open, upto: int | None) -> list[tuple[int, _Row]]:
        """Pop the pending rows before source frame ``upto`` (all with None), oldest first."""
        frames = sorted(f for f in ev.pending if upto is None or f < upto)
        rows = [(f, ev.pending.pop(f)) for f in frames]
        if upto is None:
            if ev.last_frame is not None:
                ev.through = max(ev.through, ev.last_frame)
        else:
            ev.through = max(ev.through, upto - 1)
        return rows

    def _line(
        self,
        ev: _Open,
        state: str,
        rows: Sequence[tuple[int, _Row]],
        windows: Sequence[int],
        clips: Sequence[str],
        reason: str | None = None,
    ) -> Event:
        assert ev.start is not None and ev.end is not None and ev.event_id is not None
        ev.revision += 1
        ev.written_end = ev.end
        self.lines += 1
        return Event(
            source_id=ev.source_id,
            query=ev.query,
            start=ev.start,
            end=ev.end,
            score=min(max(ev.score, 0.0), 1.0),
            frames=tuple(f for f, _ in rows),
            positions=tuple(r.position for _, r in rows),
            times=tuple(r.time for _, r in rows),
            boxes=tuple(r.box for _, r in rows),
            segment=ev.segment,
            file=ev.file,
            clips=tuple(clips),
            windows=tuple(windows),
            track_id=ev.track_id,
            event_id=ev.event_id,
            state=state,
            revision=ev.revision,
            reason=reason,
            previous=ev.previous,
        )

    def _write(self, ev: _Open, state: str, upto: int | None) -> list[Event]:
        """An ``open`` or ``update`` line with the rows before ``upto`` (spooled for the close)."""
        if ev.event_id is None:
            self._assign_id(ev)
        rows = self._take(ev, upto)
        ev.reference.clear()  # the predecessor's tail matters only until the first write
        windows, clips = ev.windows, ev.clips
        ev.windows, ev.clips = [], []
        ev.spool.add(rows, windows, clips)
        if ev.silent:
            return []
        new = [(f, r) for f, r in rows if r.position > ev.skip_through]
        if ev.resumed:
            if not new:
                ev.written_end = ev.end
                return []  # nothing the events file does not have yet
            state = "update"
        return [self._line(ev, state, new, windows, clips)]

    def _close(self, ev: _Open, reason: str, tail_from: int | None = None) -> list[Event]:
        """Close ``ev`` with its whole tube; with ``max_event``, start its continuation."""
        self._open.remove(ev)
        if not ev.started:
            ev.spool.close()
            return []
        tail = {f: r.box for f, r in ev.pending.items() if tail_from is not None and f >= tail_from}
        lines = [] if ev.opened else self._write(ev, "open", None)
        rows, windows, clips = ev.spool.read()
        rest = self._take(ev, None)
        ev.spool.close()
        rows += rest
        windows += [w for w in ev.windows if w not in windows]
        clips += [c for c in ev.clips if c not in clips]
        ev.windows, ev.clips = [], []
        if not ev.silent:
            lines.append(self._line(ev, "close", rows, windows, clips, reason))
        if reason == "max_event":
            self._open.append(
                _Open(
                    query=ev.query,
                    source_id=ev.source_id,
                    segment=ev.segment,
                    file=ev.file,
                    previous=ev.event_id,
                    through=ev.through,
                    last_frame=ev.last_frame,
                    last_box=ev.last_box,
                    reference=tail,
                )
            )
        return lines

    def _drop(self, ev: _Open) -> None:
        self._open.remove(ev)
        ev.spool.close()

    def __repr__(self) -> str:
        return (
            f"EventTracker(open={self.open_events}, held={self.held}, update_every={self.update_every:g}, "
            f"max_event={self.max_event:g})"
        )
