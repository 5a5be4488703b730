"""Standing queries on a CCTV source: cut windows, ground them, emit events.

:class:`Watcher` runs two threads:

- the **reader** pulls frames from the source and cuts them into windows (fixed or
  motion-gated), handing each finished window to a bounded :class:`WindowQueue`;
- the **grounder** takes one window at a time and makes **one** ``ground_many`` call for all
  queries (the window is encoded once, its frames passed as an in-memory video at the exact
  fps), turns confident results into findings, exports annotated clips, and hands them to an
  :class:`~tubescope.integrations.cctv.EventTracker`, whose ``open`` / ``update`` / ``close``
  lines go to the sinks in order, right after the window (see
  :mod:`~tubescope.integrations.cctv.lifecycle`).

**Crash bound**: an event is written (its ``open`` line, fsynced by :class:`JSONLSink`) at the
end of its first confident window, so after a crash or SIGKILL at any moment every event that
was confident before the last grounded window is in the events file. With
``final_only=True`` sinks get only ``close`` lines: at most ``max_event`` seconds of findings
(the events still open) are at risk.

**Restart**: for a source that re-processes an interrupted segment (a folder's file), the
watcher records per file which windows were grounded, which events were written, and where
the events file stood when the file began. After a restart the file is processed again; an
event the events file already holds is not opened again: it is written only as higher
revisions with what the file lacks, or not at all when it was closed for good.

When grounding falls behind a live source, waiting windows are dropped (oldest first) and
counted in ``frames_dropped``; for files and folders the reader waits instead. Memory is
bounded by the window size: one window being cut, ``queue_size`` waiting, one being grounded.

:meth:`Watcher.stop` works from any thread and in every state: before :meth:`start`, while
the source is still connecting or backing off, after a failed connection, twice. It stops
the source, discards waiting windows, lets the window being grounded finish, closes the
events still open (``reason: "stopped"``), and closes the sinks.

Example:
    >>> import numpy as np
    >>> from tubescope.integrations.cctv import (
    ...     Watcher, IterableSource, FixedWindows, CallbackSink)
    >>> from tubescope import GroundingResult, Tube
    >>> class Always:  # a stand-in grounder: the target fills the first half of every window
    ...     def ground_many(self, video, queries):
    ...         half = video.frame_count // 2
    ...         return [GroundingResult(q, Tube(0, half, frames=[0], boxes=[[0, 0, 4, 4]], score=0.9))
    ...                 for q in queries]
    >>> frames = (np.zeros((8, 8, 3), np.uint8) for _ in range(40))
    >>> got = []
    >>> watcher = Watcher(IterableSource(frames, fps=10), ["a red car"], Always(),
    ...                   window=FixedWindows(2, 0), sinks=[CallbackSink(got.append)])
    >>> status = watcher.run()
    >>> status.windows_grounded, [(e.state, round(e.duration, 1)) for e in got]
    (2, [('open', 1.0), ('close', 1.0), ('open', 1.0), ('close', 1.0)])
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Protocol

from tubescope.errors import ValidationError
from tubescope.integrations.cctv.buffers import CLOSED, WindowQueue
from tubescope.integrations.cctv.errors import SourceError, WatchError
from tubescope.integrations.cctv.eventlog import known_events
from tubescope.integrations.cctv.events import Event, events_from_results
from tubescope.integrations.cctv.lifecycle import EventTracker, Known
from tubescope.integrations.cctv.preflight import check_queries
from tubescope.integrations.cctv.redact import redact
from tubescope.integrations.cctv.sinks import ClipExporter, JSONLSink, Sink
from tubescope.integrations.cctv.sources.base import Source
from tubescope.integrations.cctv.windows import FixedWindows, SegmentEnd, Window, WindowSpec
from tubescope.types import GroundingResult

__all__ = ["Watcher", "WatchStatus", "GrounderLike"]

log = logging.getLogger("tubescope.cctv")

#: Consecutive windows whose grounding raised before the watcher gives up.
MAX_CONSECUTIVE_FAILURES = 5
#: Seconds between two "dropping windows" warnings (the counters are always up to date).
DROP_LOG_INTERVAL = 30.0


class GrounderLike(Protocol):
    """Anything with ``ground_many(video, queries) -> list[GroundingResult]`` (e.g. :class:`tubescope.Grounder`)."""

    def ground_many(self, video: Any, queries: Sequence[str]) -> list[GroundingResult]: ...


@dataclass(frozen=True)
class WatchStatus:
    """A snapshot of a watcher's counters.

    ``state``: ``"idle"``, ``"running"``, ``"stopping"``, ``"stopped"`` (by :meth:`Watcher.stop`),
    ``"finished"`` (the source ended) or ``"failed"``. ``buffered_frames`` is every frame held
    right now (being cut, waiting, being grounded); ``frame_bound`` is the most it can reach.
    ``events`` counts events opened, ``event_lines`` the lines sent to the sinks,
    ``open_events`` the events not closed yet, ``event_state`` the rows, windows and clips
    held in memory for them and ``event_state_peak`` the most ever held (bounded, see
    :class:`EventTracker`).
    """

    state: str
    source_state: str
    frames_in: int
    windows_cut: int
    windows_grounded: int
    windows_skipped: int
    windows_failed: int
    windows_dropped: int
    frames_dropped: int
    events: int
    event_lines: int
    open_events: int
    event_state: int
    event_state_peak: int
    duplicates_merged: int
    reconnects: int
    errors: int
    last_error: str | None
    queue_windows: int
    queue_high_water: int
    buffered_frames: int
    frame_bound: int
    fps: Fraction | None
    time_source: str | None

    def line(self) -> str:
        """One human-readable status line."""
        fps = f" @ {float(self.fps):.3g} fps" if self.fps else ""
        text = (
            f"{self.state}/{self.source_state} | frames {self.frames_in}{fps} | windows {self.windows_grounded}"
            f" | events {self.events} ({self.open_events} open) | reconnects {self.reconnects}"
            f" | dropped {self.frames_dropped}"
        )
        if self.errors:
            text += f" | errors {self.errors}"
        return text


class Watcher:
    """Ground standing queries on every window of a source and send the events to sinks.

    Args:
        source: a :class:`Source`, or a spec for :func:`open_source` (URL, file, folder).
        queries: the standing queries (natural-language sentences).
        grounder: a :class:`tubescope.Grounder` or anything with ``ground_many``.
        window: how to cut windows (default ``FixedWindows(10, 2)``).
        sinks: event sinks (:class:`JSONLSink`, :class:`ClipSink`, :class:`CallbackSink`, ...);
            the watcher closes them when it ends.
        min_score: results whose tube scores below this are not events.
        queue_size: windows that may wait for the grounder.
        on_backlog: ``"drop"`` or ``"wait"`` when the queue is full (default: drop for live
            sources, wait for files and folders).
        merge_iou: box agreement for joining the findings of two windows into one event.
        update_every: seconds of video between two lines of an event that goes on.
        max_event: the longest event (seconds of video); a longer happening is closed and
            continues as a new event that names it in ``previous``.
        final_only: send only ``close`` lines (one line per event) to the sinks.
    """

    def __init__(
        self,
        source: Source | str,
        queries: Sequence[str],
        grounder: GrounderLike,
        window: WindowSpec | None = None,
        *,
        sinks: Sequence[Sink] = (),
        min_score: float = 0.5,
        queue_size: int = 1,
        on_backlog: str | None = None,
        merge_iou: float = 0.3,
        update_every: float = 10.0,
        max_event: float = 300.0,
        final_only: bool = False,
    ) -> None:
        if isinstance(source, str):
            from tubescope.integrations.cctv.sources import open_source

            source = open_source(source)
        queries = check_queries(queries, "queries")
        if not hasattr(grounder, "ground_many"):
            raise TypeError(
                f"grounder must have a ground_many(video, queries) method, got {type(grounder).__name__}"
            )
        if not 0.0 <= min_score <= 1.0:
            raise ValidationError(f"min_score must be in [0, 1], got {min_score}")
        self.source = source
        self.queries = queries
        self.grounder = grounder
        self.window = window or FixedWindows()
        self.sinks = list(sinks)
        self.exporters = [s for s in self.sinks if isinstance(s, ClipExporter)]
        self.min_score = min_score
        policy = on_backlog or ("drop" if source.is_live else "wait")
        self.queue = WindowQueue(queue_size, policy)
        self.tracker = EventTracker(update_every=update_every, max_event=max_event, iou=merge_iou)
        self.final_only = final_only
        self._progress: dict[int, dict[str, Any]] = {}  # per segment of a resumable source
        self.cutter = self.window.cutter()
        self.min_frames = int(getattr(getattr(grounder, "config", None), "num_frames", 1) or 1)
        self.error: BaseException | None = None
        self._state = "idle"
        self._stopping = threading.Event()
        self._started = False
        self._reader: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._lock = threading.RLock()
        self._inflight = 0
        self._counts = dict.fromkeys(
            (
                "frames_in",
                "windows_cut",
                "windows_grounded",
                "windows_skipped",
                "windows_failed",
                "event_lines",
                "errors",
            ),
            0,
        )
        self._last_error: str | None = None
        self._warned_short = False
        self._last_drop_log = -DROP_LOG_INTERVAL
        self._sinks_closed = False
        if getattr(source, "done_when", None) == "read":
            source.done_when = "acknowledged"  # type: ignore[attr-defined]  # record files only once events are out
        source.on_segment_end(self._segment_ended)

    # ------------------------------------------------------------------ status
    @property
    def state(self) -> str:
        return self._state

    @property
    def status(self) -> WatchStatus:
        """A consistent-enough snapshot of the counters (safe from any thread)."""
        stats = self.source.stats
        window_cap = max(self.cutter.capacity, 1)
        return WatchStatus(
            state=self._state,
            source_state=stats.state,
            frames_in=self._counts["frames_in"],
            windows_cut=self._counts["windows_cut"],
            windows_grounded=self._counts["windows_grounded"],
            windows_skipped=self._counts["windows_skipped"],
            windows_failed=self._counts["windows_failed"],
            windows_dropped=self.queue.dropped_windows,
            frames_dropped=self.queue.dropped_frames,
            events=self.tracker.opened,
            event_lines=self._counts["event_lines"],
            open_events=self.tracker.open_events,
            event_state=self.tracker.held,
            event_state_peak=self.tracker.peak,
            duplicates_merged=self.tracker.merged,
            reconnects=stats.reconnects,
            errors=self._counts["errors"] + stats.errors,
            last_error=self._last_error or stats.last_error,
            queue_windows=self.queue.waiting_windows,
            queue_high_water=self.queue.high_water,
            buffered_frames=self.cutter.buffered + self.queue.waiting_frames + self._inflight,
            frame_bound=window_cap * (self.queue.capacity + 2),
            fps=stats.fps,
            time_source=stats.time_source,
        )

    def _record_error(self, message: str) -> None:
        secrets = getattr(self.source, "_secrets", lambda: ())()
        message = redact(message, secrets)
        self._counts["errors"] += 1
        self._last_error = message
        log.error("%s", message)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Watcher:
        """Start the reader and grounding threads and return at once."""
        with self._lock:
            if self._started:
                raise RuntimeError("this watcher was already started; make a new one")
            self._started = True
            if self._stopping.is_set():  # stopped before it started
                self._finish_without_threads()
                return self
            self._state = "running"
            self._reader = threading.Thread(
                target=self._read_loop, name=f"cctv-reader-{self.source.source_id}", daemon=True
            )
            self._worker = threading.Thread(
                target=self._work_loop, name=f"cctv-ground-{self.source.source_id}", daemon=True
            )
            self._reader.start()
            self._worker.start()
        return self

    def _finish_without_threads(self) -> None:
        self._state = "stopped"
        self._close_sinks()

    def stop(self, timeout: float | None = 30.0) -> WatchStatus:
        """Stop watching (from any thread, in any state); wait up to ``timeout`` s for the threads.

        The window being grounded finishes and its events are written; waiting windows are
        discarded. Safe to call more than once, before :meth:`start` and after a failure.
        """
        self._stopping.set()
        self.source.stop()
        with self._lock:
            started = self._started
            if self._state in ("running", "idle") and started:
                self._state = "stopping"
        self.queue.close()
        if not started:
            self._state = "stopped"
            self._close_sinks()
            return self.status
        self.join(timeout)
        return self.status

    def join(self, timeout: float | None = None) -> bool:
        """Wait for both threads to end; True when they have."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._reader, self._worker):
            if thread is None or thread is threading.current_thread():
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not self.running

    @property
    def running(self) -> bool:
        return any(t is not None and t.is_alive() for t in (self._reader, self._worker))

    def run(self) -> WatchStatus:
        """Start, block until the source ends (or Ctrl-C / :meth:`stop`), and return the final status.

        Raises the source's error (e.g. :class:`SourceAuthError`) if it failed.
        """
        if not self._started:
            self.start()
        try:
            while not self.join(0.2):
                pass
        except KeyboardInterrupt:
            self.stop()
        if self.error is not None:
            raise self.error
        return self.status

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Watcher({self.source!r}, queries={self.queries!r}, state={self._state!r})"

    # ------------------------------------------------------------------ reader
    def _put(self, item: Window | SegmentEnd) -> None:
        if isinstance(item, Window):
            self._counts["windows_cut"] += 1
        dropped = self.queue.put(item, self._stopping)
        if dropped and time.monotonic() - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = time.monotonic()
            log.warning(
                "%s: grounding is slower than the stream; dropping the oldest waiting windows "
                "(%d windows, %d frames so far)",
                self.source.source_id,
                self.queue.dropped_windows,
                self.queue.dropped_frames,
            )

    def _segment_ended(self, segment: int) -> None:
        if self._stopping.is_set():
            return
        for item in self.cutter.end_segment(segment):
            self._put(item)

    def _read_loop(self) -> None:
        try:
            for frame in self.source.frames():
                if self._stopping.is_set():
                    break
                self._counts["frames_in"] += 1
                for item in self.cutter.push(frame):
                    self._put(item)
            if not self._stopping.is_set() and self.cutter.segment is not None:
                for item in self.cutter.end_segment(self.cutter.segment):
                    self._put(item)
        except SourceError as err:
            self.error = err
            self._record_error(str(err))
        except Exception as err:  # noqa: BLE001 - reported, never lost in a thread
            self.error = err
            self._record_error(
                f"{self.source.source_id}: reader failed: {type(err).__name__}: {err}"
            )
        finally:
            self.queue.close()

    # ------------------------------------------------------------------ grounder
    def _work_loop(self) -> None:
        failures = 0
        try:
            while True:
                item = self.queue.get(timeout=0.2)
                if self._stopping.is_set():
                    if item is not None and item is not CLOSED:
                        self.queue.clear()
                    break
                if item is None:
                    continue
                if item is CLOSED:
                    break
                if isinstance(item, SegmentEnd):
                    self._emit_all(self.tracker.end_segment(item.segment))
                    self.source.mark_done(item.segment)
                    if self._progress.pop(item.segment, None) is not None:
                        self.tracker.forget_known()
                    continue
                ok = self._process(item)
                failures = 0 if ok else failures + 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    self.error = WatchError(
                        f"{self.source.source_id}: grounding failed on {failures} windows in a row; "
                        f"last error: {self._last_error}"
                    )
                    self._record_error(str(self.error))
                    self._stopping.set()
                    self.source.stop()
                    break
        except Exception as err:  # noqa: BLE001
            self.error = err
            self._record_error(
                f"{self.source.source_id}: grounding thread failed: {type(err).__name__}: {err}"
            )
            self.source.stop()
        finally:
            try:
                lines = self.tracker.flush()
                self._emit_all(lines)
                for segment in list(self._progress):
                    self._save_progress(segment, lines)
            finally:
                self._close_sinks()
                if self._reader is not None:
                    self._reader.join(5.0)
                if self.error is not None:
                    self._state = "failed"
                elif self._stopping.is_set():
                    self._state = "stopped"
                else:
                    self._state = "finished"

    def _process(self, window: Window) -> bool:
        """Ground one window; False when grounding raised."""
        if len(window) < self.min_frames:
            self._counts["windows_skipped"] += 1
            if not self._warned_short:
                self._warned_short = True
                log.warning(
                    "%s: window #%d has %d frames, fewer than the %d the grounder samples; skipped "
                    "(use a longer window, a higher sample_fps, or fewer grounder frames)",
                    self.source.source_id,
                    window.window_id,
                    len(window),
                    self.min_frames,
                )
            return True
        self._inflight = len(window)
        if self.source.resumable and window.segment not in self._progress:
            self._begin_segment(window)
        try:
            video = window.to_video()
            started = time.perf_counter()
            try:
                results = self.grounder.ground_many(video, self.queries)
            except Exception as err:  # noqa: BLE001 - one bad window must not end the watch
                self._counts["windows_failed"] += 1
                self._record_error(
                    f"{self.source.source_id}: window #{window.window_id}: grounding failed: {type(err).__name__}: {err}"
                )
                return False
            self._counts["windows_grounded"] += 1
            log.debug(
                "%s: window #%d (%d frames) grounded in %.2f s",
                self.source.source_id,
                window.window_id,
                len(window),
                time.perf_counter() - started,
            )
            found = events_from_results(window, results, min_score=self.min_score)
            events = [event for event, _ in found]
            if found and self.exporters:
                events = self._export(window, found, video)
            lines = self.tracker.add(window, events)
            self._emit_all(lines)
            if window.segment in self._progress:
                self._save_progress(window.segment, lines, window)
            return True
        finally:
            self._inflight = 0

    def _export(
        self, window: Window, found: list[tuple[Event, GroundingResult]], video: Any
    ) -> list[Event]:
        results = [result for _, result in found]
        clips: list[str] = []
        for exporter in self.exporters:
            try:
                path = exporter.export(window, results, video)
            except Exception as err:  # noqa: BLE001
                self._record_error(
                    f"{self.source.source_id}: clip export of window #{window.window_id} failed: {err}"
                )
                continue
            if path:
                clips.append(str(path))
        return [replace(event, clips=tuple(clips)) for event, _ in found]

    def _emit_all(self, lines: Sequence[Event]) -> None:
        for line in lines:
            log.info(
                "%s: event %s %s#%d %r %s +%.1fs score %.2f",
                line.source_id,
                line.event_id,
                line.state,
                line.revision,
                line.query,
                line.start.isoformat(),
                line.duration,
                line.score,
            )
            if self.final_only and line.state != "close":
                continue
            self._counts["event_lines"] += 1
            for sink in self.sinks:
                try:
                    sink.emit(line)
                except Exception as err:  # noqa: BLE001 - one broken sink must not silence the others
                    self._record_error(
                        f"{self.source.source_id}: sink {sink!r} failed on event {line.event_id}: {err}"
                    )

    # ------------------------------------------------------------------ restart records
    def _event_files(self) -> list[JSONLSink]:
        return [sink for sink in self.sinks if isinstance(sink, JSONLSink)]

    def _begin_segment(self, window: Window) -> None:
        """First window of a resumable segment: resume an interrupted run, or note where we start."""
        record = self.source.resume_record(window.segment)
        if not record:
            self._progress[window.segment] = {
                "events_offset": {str(sink.path): sink.position() for sink in self._event_files()},
                "windows": [],
                "events": {},
            }
            self._save_progress(window.segment, [])  # on disk before any line about this file
            return
        known: dict[str, Known] = {
            event_id: Known(*entry) for event_id, entry in record.get("events", {}).items()
        }
        for path, offset in record.get("events_offset", {}).items():
            for event_id, found in known_events(path, offset=offset, file=window.file).items():
                old = known.get(event_id)
                if old is None or found.revision >= old.revision:
                    known[event_id] = found
        self.tracker.resume(known)
        self._progress[window.segment] = {
            "events_offset": dict(record.get("events_offset", {})),
            "windows": [list(w) for w in record.get("windows", [])],
            "events": {k: [v.revision, v.state, v.reason, v.through] for k, v in known.items()},
        }
        log.warning(
            "%s: %s was interrupted after %d windows; processing it again without writing its %d "
            "events twice",
            self.source.source_id,
            window.file,
            len(record.get("windows", [])),
            len(known),
        )

    def _save_progress(
        self, segment: int, lines: Sequence[Event], window: Window | None = None
    ) -> None:
        progress = self._progress[segment]
        if window is not None:
            span = [window.frames[0].position, window.frames[-1].position + 1]
            if span not in progress["windows"]:
                progress["windows"].append(span)
        events = progress["events"]
        for line in lines:
            if line.segment != segment or (self.final_only and line.state != "close"):
                continue
            through = max(line.positions, default=-1)
            if line.event_id in events:
                through = max(through, events[line.event_id][3])
            events[line.event_id] = [line.revision, line.state, line.reason, through]
        try:
            self.source.save_progress(segment, progress)
        except Exception as err:  # noqa: BLE001 - the events are out; a restart rescans the file
            self._record_error(f"{self.source.source_id}: cannot record progress: {err}")

    def _close_sinks(self) -> None:
        with self._lock:
            if self._sinks_closed:
                return
            self._sinks_closed = True
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as err:  # noqa: BLE001
                self._record_error(f"sink {sink!r} failed to close: {err}")
