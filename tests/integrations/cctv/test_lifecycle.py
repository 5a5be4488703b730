"""The event lifecycle end to end: open at once, updates while it lasts, bounded memory, long events split."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tubescope.integrations.cctv import (
    CallbackSink,
    FileSource,
    FixedWindows,
    IterableSource,
    JSONLSink,
    LiveFrame,
    Source,
    Watcher,
    fold_events,
    read_events,
)
from tubescope.synthetic import make_clip

from .stubs import AlwaysGrounder, RedGrounder
from .watchproc import red_square

T0 = datetime(2026, 3, 1, 22, 0, tzinfo=timezone.utc)


def blank_frames(n: int, size: int = 8):  # type: ignore[no-untyped-def]
    image = np.zeros((size, size, 3), np.uint8)
    return (image for _ in range(n))


class Recorder:
    """A callback sink that notes the watcher's counters at the moment each line arrives."""

    def __init__(self) -> None:
        self.watcher: Watcher | None = None
        self.lines: list[Any] = []
        self.seen: list[dict[str, int]] = []

    def __call__(self, line: Any) -> None:
        assert self.watcher is not None
        status = self.watcher.status
        self.lines.append(line)
        self.seen.append(
            {
                "windows": status.windows_grounded,
                "frames_in": status.frames_in,
                "state": status.event_state,
                "peak": status.event_state_peak,
            }
        )


def watch_parked_van(
    total: int, fps: int, window: tuple[float, float], sinks: tuple[Any, ...] = (), **options: Any
) -> tuple[Recorder, Any]:
    """Watch ``total`` blank frames in which a parked van is always found; record every line."""
    recorder = Recorder()
    watcher = Watcher(
        IterableSource(blank_frames(total), fps=fps, start_time=T0),
        ["a parked van"],
        AlwaysGrounder(),
        FixedWindows(*window),
        sinks=[CallbackSink(recorder), *sinks],
        **options,
    )
    recorder.watcher = watcher
    return recorder, watcher.run()


def test_a_target_that_stays_in_view_is_reported_while_it_is_there(tmp_path: Path) -> None:
    # before: the only event was held in memory until the source ended (nothing while it ran)
    fps, seconds = 5, 60
    events = tmp_path / "events.jsonl"
    recorder, status = watch_parked_van(fps * seconds, fps, (4, 1), (JSONLSink(events),))
    states = [line.state for line in recorder.lines]
    assert states[0] == "open" and recorder.seen[0]["windows"] == 1  # right after the first window
    assert recorder.seen[0]["frames_in"] < fps * seconds // 2  # long before the stream ended
    assert states.count("update") >= 4 and states[-1] == "close" and states.count("close") == 1
    assert [line.revision for line in recorder.lines] == list(range(len(states)))
    ends = [line.end for line in recorder.lines]
    assert all((b - a).total_seconds() >= 10 for a, b in zip(ends, ends[1:-1]))  # --update-every
    (event,) = fold_events(events)
    assert event == recorder.lines[-1] and event.frames == tuple(range(fps * seconds))
    assert status.events == 1 and status.event_lines == len(states)


@pytest.mark.time_limit(90)
def test_event_state_stays_bounded_on_a_30_minute_stream_with_the_target_always_there() -> None:
    fps, minutes = 2, 30
    total = fps * 60 * minutes
    recorder, status = watch_parked_van(total, fps, (10, 2), update_every=10, max_event=300)
    # not written yet, at most: one update interval plus one window of rows, and their windows
    bound = (10 + 10) * fps + 4
    assert 0 < status.event_state_peak <= bound, status.event_state_peak
    peaks = [seen["peak"] for seen in recorder.seen]
    assert (
        peaks[len(peaks) // 2] == status.event_state_peak
    )  # reached in the first half, never grew
    assert status.event_state == 0 and status.open_events == 0
    closes = [line for line in recorder.lines if line.state == "close"]
    assert len(closes) == minutes // 5  # --max-event 5 min: six events, each continuing the last
    assert [c.reason for c in closes] == ["max_event"] * 5 + ["segment"]
    assert [c.previous for c in closes[1:]] == [c.event_id for c in closes[:-1]]
    assert closes[0].previous is None
    frames = [f for c in closes for f in c.frames]
    assert frames == list(range(total))  # the whole half hour, each frame in exactly one event
    assert all(300 <= c.duration <= 310 for c in closes[:-1])  # split at the end of a window
    per_event: dict[str, list[int]] = {}
    for line in recorder.lines:
        per_event.setdefault(line.event_id, []).append(line.revision)
    assert all(revs == list(range(len(revs))) for revs in per_event.values())


def test_one_long_event_keeps_bounded_state_and_its_close_line_holds_the_whole_tube() -> None:
    fps, minutes = 2, 12
    total = fps * 60 * minutes
    recorder, status = watch_parked_van(total, fps, (10, 2), max_event=3600)
    assert status.event_state_peak <= (10 + 10) * fps + 4  # the same bound, 24 times fewer rows
    (close,) = [line for line in recorder.lines if line.state == "close"]
    assert close.frames == tuple(range(total)) and len(close.windows) == status.windows_grounded
    deltas = [f for line in recorder.lines[:-1] for f in line.frames]
    assert deltas == list(range(len(deltas)))  # open + updates: each frame once, in order
    assert total - len(deltas) <= 10 * fps  # the rest (less than a window) only in the close


def test_final_only_writes_one_line_per_event(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    recorder, status = watch_parked_van(
        5 * 100, 5, (4, 1), (JSONLSink(events),), max_event=60, final_only=True
    )
    got = recorder.lines
    assert [line.state for line in got] == ["close", "close"] and status.event_lines == 2
    assert got[1].previous == got[0].event_id and got[0].reason == "max_event"
    assert read_events(events) == got


def test_open_line_comes_within_one_window_of_the_first_confident_window(tmp_path: Path) -> None:
    clip = make_clip(
        tmp_path / "c.mp4",
        width=160,
        height=120,
        num_frames=80,
        fps=10,
        shapes=[red_square(23, 80)],
    )
    recorder = Recorder()
    grounder = RedGrounder()
    watcher = Watcher(
        FileSource(clip.path),
        ["the red square"],
        grounder,
        FixedWindows(1.0, 0.2),
        sinks=[CallbackSink(recorder)],
    )
    recorder.watcher = watcher
    watcher.run()
    first_confident = next(k for k, call in enumerate(grounder.calls) if call["found"])
    opened = recorder.lines[0]
    assert opened.state == "open" and opened.windows == (first_confident,)
    assert recorder.seen[0]["windows"] == first_confident + 1  # before the next window is grounded
    assert opened.frames[0] == 23 and opened.positions[0] == 23


class DroppingCamera(Source):
    """A camera whose connection drops once: two segments, the target on screen throughout."""

    def __init__(self, per_segment: int, fps: int = 10) -> None:
        super().__init__("gate")
        self.per_segment, self.fps = per_segment, fps

    def frames(self):  # type: ignore[no-untyped-def]
        index = 0
        image = np.zeros((8, 8, 3), np.uint8)
        for segment in (0, 1):
            for position in range(self.per_segment):
                yield LiveFrame(
                    index=index,
                    time=position / self.fps,
                    image=image,
                    wallclock=T0 + timedelta(seconds=index / self.fps + 3 * segment),  # 3 s outage
                    source_id=self.source_id,
                    segment=segment,
                    position=position,
                    fps=Fraction(self.fps),
                )
                index += 1
            self._end_segment(segment)  # the connection is lost


def test_a_reconnect_closes_the_event_and_never_writes_it_again(tmp_path: Path) -> None:
    got: list[Any] = []
    Watcher(
        DroppingCamera(per_segment=60),
        ["a parked van"],
        AlwaysGrounder(),
        FixedWindows(2, 0.5),
        sinks=[CallbackSink(got.append), JSONLSink(tmp_path / "events.jsonl")],
    ).run()
    first, second = (line.event_id for line in got if line.state == "open")
    assert first != second
    closed_at = next(k for k, line in enumerate(got) if line.state == "close")
    assert got[closed_at].event_id == first and got[closed_at].reason == "segment"
    assert first not in {line.event_id for line in got[closed_at + 1 :]}
    assert [line.segment for line in got if line.event_id == second] == [1, 1]
    assert read_events(tmp_path / "events.jsonl") == got
