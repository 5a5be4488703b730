"""Events from results, joining overlapping windows, the JSONL sink's durability, annotated clips."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from tubescope import GroundingResult, Tube
from tubescope.integrations.cctv import (
    ClipSink,
    Event,
    EventTracker,
    JSONLSink,
    LiveFrame,
    read_events,
)
from tubescope.integrations.cctv.events import events_from_results
from tubescope.integrations.cctv.windows import Window
from tubescope.video import Video

T0 = datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)


def window(
    start: int,
    n: int,
    *,
    window_id: int = 0,
    segment: int = 0,
    next_start: int | None = None,
    fps: int = 10,
    image: np.ndarray | None = None,
) -> Window:
    img = np.zeros((48, 64, 3), np.uint8) if image is None else image
    frames = tuple(
        LiveFrame(
            index=i,
            time=i / fps,
            image=img,
            wallclock=T0 + timedelta(seconds=i / fps),
            source_id="gate",
            segment=segment,
            position=i,
            fps=Fraction(fps),
        )
        for i in range(start, start + n)
    )
    return Window(window_id, "gate", segment, frames, Fraction(fps), "fixed", next_start)


def result(
    query: str, start: int, end: int, box: list[float], score: float = 0.9
) -> GroundingResult:
    return GroundingResult(
        query, Tube(start, end, frames=[start], boxes=[box], score=score), track_id=1
    )


def test_event_from_result_maps_window_frames_to_source_frames_and_wall_clock() -> None:
    win = window(100, 20)
    found = events_from_results(
        win,
        [
            result("a person", 5, 15, [1, 2, 11, 12]),
            result("a dog", 0, 3, [0, 0, 1, 1], 0.2),
            GroundingResult("a cat", None),
        ],
        min_score=0.5,
    )
    assert len(found) == 1
    event, res = found[0]
    assert res.query == "a person"
    assert event.frames == tuple(range(105, 115)) and event.positions == event.frames
    assert event.start == T0 + timedelta(seconds=10.5) and event.end == T0 + timedelta(seconds=11.5)
    assert event.boxes[0] == (1.0, 2.0, 11.0, 12.0) and event.score == 0.9 and event.windows == (0,)
    data = event.to_dict()
    assert (
        data["start"] == "2026-03-01T10:15:10.500000Z"
        and data["end"] == "2026-03-01T10:15:11.500000Z"
    )
    assert json.loads(event.to_json()) == data
    assert Event.from_dict(data) == event


def test_tube_reaching_the_window_end_ends_at_the_last_frame_end() -> None:
    win = window(0, 10)
    ((event, _),) = events_from_results(win, [result("q", 5, 10, [0, 0, 4, 4])], min_score=0)
    assert event.end == win.end == T0 + timedelta(seconds=1.0)


def test_overlapping_windows_join_into_one_event_and_the_stronger_box_wins_where_unwritten() -> (
    None
):
    tracker = EventTracker()
    first = window(0, 20, window_id=0, next_start=15)
    second = window(15, 20, window_id=1, next_start=30)
    ((e1, _),) = events_from_results(
        first, [result("a person", 12, 20, [10, 10, 30, 30], 0.7)], min_score=0.5
    )
    (opened,) = tracker.add(first, [e1])  # written at once; the overlap frames are held back
    assert opened.state == "open" and opened.revision == 0 and opened.frames == (12, 13, 14)
    ((e2, _),) = events_from_results(
        second, [result("a person", 0, 8, [11, 10, 31, 30], 0.8)], min_score=0.5
    )
    (closed,) = tracker.add(second, [e2])
    assert tracker.merged == 1 and closed.event_id == opened.event_id
    assert closed.state == "close" and closed.revision == 1 and closed.reason == "ended"
    assert closed.frames == tuple(range(12, 23)) and closed.windows == (0, 1)
    assert closed.score == 0.8 and closed.start == e1.start and closed.end == e2.end
    assert closed.boxes[closed.frames.index(16)] == (11.0, 10.0, 31.0, 30.0)  # the stronger one
    assert closed.boxes[closed.frames.index(13)] == (10.0, 10.0, 30.0, 30.0)  # written: final


def test_different_targets_or_queries_are_not_joined() -> None:
    tracker = EventTracker()
    first = window(0, 20, next_start=15)
    second = window(15, 20, window_id=1, next_start=30)
    ((a, _),) = events_from_results(
        first, [result("a person", 12, 20, [0, 0, 10, 10])], min_score=0
    )
    (b, _), (c, _) = events_from_results(
        second,
        [result("a person", 0, 8, [40, 30, 60, 46]), result("a dog", 0, 8, [0, 0, 10, 10])],
        min_score=0,
    )
    lines = tracker.add(first, [a]) + tracker.add(second, [b, c]) + tracker.flush()
    closes = [e for e in lines if e.state == "close"]
    assert sorted((e.query, e.frames[0]) for e in closes) == [
        ("a dog", 15),
        ("a person", 12),
        ("a person", 15),
    ]
    assert tracker.merged == 0 and len({e.event_id for e in closes}) == 3


def test_events_do_not_join_across_segments_and_segment_end_closes() -> None:
    tracker = EventTracker()
    win = window(0, 20, next_start=15)
    ((a, _),) = events_from_results(win, [result("q", 10, 20, [0, 0, 9, 9])], min_score=0)
    (opened,) = tracker.add(win, [a])
    assert opened.state == "open" and tracker.open_events == 1
    (closed,) = tracker.end_segment(0)
    assert closed.state == "close" and closed.reason == "segment" and closed.frames == a.frames
    later = window(20, 20, segment=1, next_start=35)
    ((b, _),) = events_from_results(later, [result("q", 0, 20, [0, 0, 9, 9])], min_score=0)
    (again,) = tracker.add(later, [b])
    assert again.state == "open" and again.event_id != opened.event_id and again.segment == 1


def test_jsonl_sink_fsyncs_every_event_and_heals_a_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event_id": "torn by a cra')  # a crash mid-write in an earlier run
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    sink = JSONLSink(path)
    assert synced == []  # nothing is opened before the first event
    events = [
        Event(source_id="gate", query=f"q{k}", start=T0, end=T0 + timedelta(seconds=1), score=0.5)
        for k in range(3)
    ]
    for event in events:
        before = len(synced)
        sink.emit(event)
        assert len(synced) > before  # durable before emit returns
        assert path.read_bytes().endswith(b"\n")
    sink.close()
    assert [e.query for e in read_events(path)] == ["q0", "q1", "q2"]
    JSONLSink(path).close()  # reopening appends, never truncates
    assert len(read_events(path)) == 3


def test_clip_sink_writes_an_annotated_h264_clip(tmp_path: Path) -> None:
    image = np.full((48, 64, 3), 60, np.uint8)
    win = window(0, 12, image=image)
    video = win.to_video()
    res = result("the red square", 2, 9, [10, 10, 30, 30])
    path = ClipSink(tmp_path / "clips").export(win, [res], video)
    assert path is not None and Path(path).name == "gate_20260301T101500.000Z_w00000.mp4"
    with Video(path) as clip:
        assert clip.frame_count == 12 and clip.fps == 10
        assert clip.info.codec == "h264"
        drawn = clip.get_frames([5])[0].astype(int)
    assert np.abs(drawn - 60).max() > 100  # the box was drawn


def test_event_lines_carry_the_schema_version_and_older_lines_still_read() -> None:
    event = Event(source_id="gate", query="q", start=T0, end=T0, score=0.5, state="open")
    data = event.to_dict()
    assert data["schema_version"] == 1 and data["state"] == "open" and data["revision"] == 0
    older = {
        k: v
        for k, v in data.items()
        if k not in ("schema_version", "state", "revision", "reason", "previous")
    }
    assert (Event.from_dict(older).state, Event.from_dict(older).revision) == ("close", 0)
    with pytest.raises(ValueError, match="newer tubescope"):
        Event.from_dict({**data, "schema_version": 2})
    with pytest.raises(ValueError, match="reason"):
        Event(source_id="g", query="q", start=T0, end=T0, score=0.5, state="open", reason="ended")
    with pytest.raises(ValueError, match="state"):
        Event(source_id="g", query="q", start=T0, end=T0, score=0.5, state="closed")
