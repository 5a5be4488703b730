"""The Watcher: one grounding call per window, events to sinks, backpressure, stop() in every state."""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tubescope import GroundingResult
from tubescope.integrations.cctv import (
    Backoff,
    CallbackSink,
    ClipSink,
    FileSource,
    FixedWindows,
    IterableSource,
    JSONLSink,
    MotionWindows,
    StreamSource,
    Watcher,
    WatchError,
    read_events,
)
from tubescope.integrations.cctv import watcher as watcher_module
from tubescope.synthetic import ShapeSpec, make_clip

from .conftest import free_port, wait_until
from .stubs import RedGrounder


def red_frames(n: int, on: range, size: tuple[int, int] = (120, 160)) -> list[np.ndarray]:
    out = []
    for i in range(n):
        img = np.full((*size, 3), 70, np.uint8)
        if i in on:
            img[40:80, 20 + i : 60 + i] = (220, 30, 30)
        out.append(img)
    return out


def test_one_ground_many_call_per_window_with_every_query_and_exact_fps(tmp_path: Path) -> None:
    square = ShapeSpec(
        color="red",
        kind="square",
        size=20,
        start=(30.0, 60.0),
        end=(120.0, 60.0),
        appear=12,
        disappear=40,
    )
    clip = make_clip(
        tmp_path / "c.mp4",
        width=160,
        height=120,
        num_frames=60,
        fps=Fraction(30000, 1001),
        shapes=[square],
    )
    grounder = RedGrounder()
    got: list[Any] = []
    queries = ["the red square", "a person climbing", "a white van"]
    watcher = Watcher(
        FileSource(clip.path),
        queries,
        grounder,
        FixedWindows(1.0, 0.3),
        sinks=[
            CallbackSink(got.append),
            JSONLSink(tmp_path / "events.jsonl"),
            ClipSink(tmp_path / "clips"),
        ],
    )
    status = watcher.run()
    assert status.state == "finished" and status.frames_in == 60
    assert len(grounder.calls) == status.windows_grounded == status.windows_cut
    assert all(c["queries"] == queries and c["type"] == "Video" for c in grounder.calls)
    assert all(c["fps"] == Fraction(30000, 1001) for c in grounder.calls)
    closes = [e for e in got if e.state == "close"]
    assert (
        len(closes) == 1 and status.events == 1 and status.duplicates_merged >= 1
    )  # one square, seen in 3 windows
    event = closes[0]
    assert event.query == "the red square" and event.frames[0] == 12 and event.frames[-1] == 39
    assert event.positions == event.frames and len(event.boxes) == 28
    assert len(event.clips) >= 2 and all(
        Path(c).exists() for c in event.clips
    )  # one clip per window it spans
    assert read_events(tmp_path / "events.jsonl") == got


def test_low_scores_are_not_events() -> None:
    source = IterableSource(red_frames(20, range(5, 15)), fps=10)
    got: list[Any] = []
    Watcher(
        source,
        ["red"],
        RedGrounder(score=0.4),
        FixedWindows(2, 0),
        sinks=[CallbackSink(got.append)],
        min_score=0.5,
    ).run()
    assert got == []


class _Counting:
    """A grounder that takes ``delay`` seconds per window and finds nothing."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    def ground_many(self, video: Any, queries: list[str]) -> list[GroundingResult]:
        self.calls += 1
        time.sleep(self.delay)
        return [GroundingResult(q, None) for q in queries]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(
    not os.path.exists("/proc/self/statm"), reason="needs /proc to read the resident set size"
)
def test_backpressure_slow_grounder_fast_live_source_drops_and_stays_flat() -> None:
    total, fps, height, width = 3000, 25, 240, 320
    frame_bytes = height * width * 3

    def produce():  # a camera much faster than grounding: fresh 230 kB frames, about 1 ms apart
        for i in range(total):
            yield np.full((height, width, 3), i % 251, np.uint8)
            time.sleep(0.001)

    grounder = _Counting(delay=0.25)
    watcher = Watcher(
        IterableSource(produce(), fps=fps, live=True),
        ["anything"],
        grounder,
        FixedWindows(1, 0),
        queue_size=1,
    )
    baseline = _rss_bytes()
    samples: list[tuple[int, int, int, int]] = []
    watcher.start()
    while watcher.running:
        status = watcher.status
        samples.append(
            (_rss_bytes(), status.buffered_frames, status.frames_dropped, status.queue_windows)
        )
        time.sleep(0.05)
    watcher.join(10)
    status = watcher.status
    assert status.state == "finished" and status.frames_in == total
    assert status.frames_dropped > total // 2  # most windows had to go
    assert (
        status.frames_dropped + 25 * status.windows_grounded == total
    )  # every frame grounded or counted
    mid = samples[len(samples) // 2][2]
    assert 0 < mid < status.frames_dropped  # the counter rises while it runs
    assert status.queue_high_water == 1 and max(s[3] for s in samples) <= 1
    assert max(s[1] for s in samples) <= status.frame_bound == 25 * 3
    growth = max(s[0] for s in samples) - baseline
    assert growth < 40 * frame_bytes * 3, (
        f"RSS grew by {growth / 1e6:.0f} MB"
    )  # unbounded would be ~{total * frame_bytes / 1e6:.0f} MB
    assert growth < total * frame_bytes / 5


def test_files_wait_instead_of_dropping() -> None:
    grounder = _Counting(delay=0.02)
    watcher = Watcher(
        IterableSource(red_frames(100, range(0)), fps=10), ["x"], grounder, FixedWindows(1, 0)
    )
    status = watcher.run()
    assert status.frames_dropped == 0 and grounder.calls == 10


def test_stop_before_start_after_failure_and_twice(tmp_path: Path) -> None:
    sink = JSONLSink(tmp_path / "e.jsonl")
    idle = Watcher(
        IterableSource(red_frames(5, range(0)), fps=10), ["x"], RedGrounder(), sinks=[sink]
    )
    assert idle.stop().state == "stopped"
    idle.stop()
    idle.start()  # a stopped watcher does not come back to life
    assert not idle.running and idle.state == "stopped" and sink._handle is None

    failed = Watcher(
        StreamSource(
            f"rtsp://127.0.0.1:{free_port()}/x", backoff=Backoff(0.01, 0.02), max_retries=1
        ),
        ["x"],
        RedGrounder(),
    )
    failed.start()
    assert failed.join(5) and failed.state == "failed" and failed.error is not None
    assert failed.stop(timeout=1).state == "failed"

    connecting = Watcher(
        StreamSource(f"rtsp://127.0.0.1:{free_port()}/x", backoff=Backoff(10, 10)),
        ["x"],
        RedGrounder(),
    )
    connecting.start()
    assert wait_until(lambda: connecting.source.stats.failed_attempts >= 1, 5)
    started = time.monotonic()
    assert connecting.stop(timeout=5).state == "stopped"
    assert time.monotonic() - started < 2 and not connecting.running


def test_stop_from_a_callback_and_pending_events_are_written(tmp_path: Path) -> None:
    watcher: Watcher
    got: list[Any] = []

    def on_event(event: Any) -> None:
        got.append(event)
        watcher.stop(timeout=0)  # from the grounding thread itself

    frames = red_frames(400, range(3, 10))  # reaches the window end: still open at the stop
    watcher = Watcher(
        IterableSource(frames, fps=10, realtime=True),
        ["red"],
        RedGrounder(),
        FixedWindows(1, 0),
        sinks=[CallbackSink(on_event), JSONLSink(tmp_path / "e.jsonl")],
    )
    watcher.start()
    assert watcher.join(10) and watcher.state == "stopped"
    assert [e.state for e in got] == ["open", "close"] and got[1].reason == "stopped"
    assert read_events(tmp_path / "e.jsonl") == got
    assert watcher.status.frames_in < 100


def test_a_failing_sink_or_window_does_not_stop_the_watch(caplog: pytest.LogCaptureFixture) -> None:
    class Flaky(RedGrounder):
        def ground_many(self, video, queries):  # type: ignore[no-untyped-def]
            if len(self.calls) == 0:
                self.calls.append({})
                raise RuntimeError("CUDA out of memory (pretend)")
            return super().ground_many(video, queries)

    def broken(event: Any) -> None:
        raise OSError("disk full")

    got: list[Any] = []
    frames = red_frames(40, range(22, 30))
    status = Watcher(
        IterableSource(frames, fps=10),
        ["red"],
        Flaky(),
        FixedWindows(2, 0),
        sinks=[CallbackSink(broken), CallbackSink(got.append)],
    ).run()
    assert status.windows_failed == 1 and status.windows_grounded == 1
    assert [e.state for e in got] == ["open", "close"]
    assert status.errors == 3 and "disk full" in caplog.text and "out of memory" in caplog.text


def test_grounding_that_always_fails_ends_the_watch() -> None:
    class Broken:
        def ground_many(self, video, queries):  # type: ignore[no-untyped-def]
            raise ValueError("model is broken")

    watcher = Watcher(
        IterableSource(red_frames(200, range(0)), fps=10), ["x"], Broken(), FixedWindows(1, 0)
    )
    with pytest.raises(WatchError, match="in a row"):
        watcher.run()
    assert (
        watcher.state == "failed"
        and watcher.status.windows_failed == watcher_module.MAX_CONSECUTIVE_FAILURES
    )


def test_windows_shorter_than_the_grounder_sample_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    grounder = RedGrounder()
    grounder.config = type("Config", (), {"num_frames": 20})()  # type: ignore[attr-defined]
    status = Watcher(
        IterableSource(red_frames(30, range(0)), fps=10), ["x"], grounder, FixedWindows(1, 0)
    ).run()
    assert status.windows_skipped == 3 and grounder.calls == []
    assert "fewer than the 20" in caplog.text


def test_motion_gated_watch_grounds_only_around_motion() -> None:
    rng = np.random.default_rng(1)
    frames = [
        np.clip(f.astype(int) + rng.integers(-2, 3, f.shape), 0, 255).astype(np.uint8)
        for f in red_frames(150, range(60, 90))
    ]
    grounder = RedGrounder()
    got: list[Any] = []
    status = Watcher(
        IterableSource(frames, fps=10),
        ["the red box"],
        grounder,
        MotionWindows(pre_roll=1, post_roll=1, max_length=10),
        sinks=[CallbackSink(got.append)],
    ).run()
    assert status.windows_grounded == 1 and len(grounder.calls) == 1
    assert grounder.calls[0]["frames"] < 60  # only the moving part, not the whole 15 s
    (event,) = [e for e in got if e.state == "close"]
    assert event.frames[0] == 60 and event.frames[-1] == 89


def test_watcher_validates_its_arguments() -> None:
    source = IterableSource([], fps=10)
    with pytest.raises(ValueError, match="queries"):
        Watcher(source, [], RedGrounder())
    with pytest.raises(ValueError, match="queries"):
        Watcher(source, ["  "], RedGrounder())
    with pytest.raises(TypeError, match="ground_many"):
        Watcher(source, ["x"], object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_score"):
        Watcher(source, ["x"], RedGrounder(), min_score=2)
    assert "frames" in repr(Watcher(source, "a red car", RedGrounder()))
