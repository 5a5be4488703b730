"""Against a real RTSP server on loopback (GStreamer): clocks, reconnect without loss or duplicates, stalls."""

from __future__ import annotations

import threading
import time
from datetime import timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from tubescope.integrations.cctv import (
    Backoff,
    CallbackSink,
    FixedWindows,
    JSONLSink,
    StreamSource,
    Watcher,
    read_events,
)
from tubescope.integrations.cctv.sources.base import utc_now

from .conftest import wait_until
from .stubs import RedGrounder, red_mask

FPS = 20


def quick(url: str, **options: Any) -> StreamSource:
    """A stream source with test-sized timeouts and backoff."""
    settings: dict[str, Any] = dict(
        backoff=Backoff(0.2, 1.0), open_timeout=5, read_timeout=2, stall_timeout=3
    )
    settings.update(options)
    return StreamSource(url, **settings)


def test_frames_carry_index_media_time_and_utc_wall_clock(rtsp_server: Any) -> None:
    server = rtsp_server(fps=FPS, red="0-1000")
    source = quick(server.url)
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 45:
            source.stop()
    assert [f.index for f in frames] == list(range(45)) and [f.position for f in frames] == list(
        range(45)
    )
    assert all(f.fps == Fraction(FPS) for f in frames) and source.stats.fps == Fraction(FPS)
    times = [f.time for f in frames]
    assert times[0] == 0.0 and all(abs(b - a - 1 / FPS) < 1e-9 for a, b in zip(times, times[1:]))
    assert all(f.wallclock.tzinfo == timezone.utc for f in frames)
    assert source.stats.time_source in ("rtcp", "receive")
    # the camera started filming at t0 and a frame's wall clock is t0 + its media time (+ encoder latency)
    assert abs(frames[0].wallclock.timestamp() - server.t0) < 0.8
    assert (utc_now() - frames[-1].wallclock).total_seconds() < 1.0
    assert frames[0].image.shape == (120, 160, 3) and red_mask(frames[10].image).sum() > 1000
    assert source.source_id == f"127.0.0.1:{server.port}/cam" and source.stats.state == "stopped"


@pytest.mark.time_limit(45)
def test_server_killed_mid_stream_reconnects_without_losing_or_duplicating_events(
    rtsp_server: Any, tmp_path: Path
) -> None:
    # the red square is on screen 3.0-4.5 s and 9.5-11.0 s after t0; the camera dies at 6 s
    server = rtsp_server(fps=FPS, red="3-4.5,9.5-11")
    t0 = server.t0
    got: list[Any] = []
    grounder = RedGrounder()
    watcher = Watcher(
        quick(server.url),
        ["the red square", "a person"],
        grounder,
        FixedWindows(2, 0.5),
        sinks=[CallbackSink(got.append), JSONLSink(tmp_path / "events.jsonl")],
    )
    watcher.start()
    assert wait_until(lambda: time.time() - t0 >= 6.0, 10)
    assert watcher.status.frames_in > 50 and watcher.status.reconnects == 0
    server.kill()
    time.sleep(0.7)
    server.start()
    assert wait_until(
        lambda: watcher.source.stats.reconnects == 1 and watcher.source.stats.state == "running", 12
    )
    assert wait_until(lambda: time.time() - t0 >= 12.5, 10)
    status = watcher.stop()
    assert status.state == "stopped" and status.reconnects == 1 and status.frames_dropped == 0

    red = sorted(
        (e for e in got if e.query == "the red square" and e.state == "close"),
        key=lambda e: e.start,
    )
    assert len(red) == 2, got  # one per appearance: none lost across the outage, none duplicated
    assert [e.segment for e in red] == [0, 1]
    for event, (start, end) in zip(red, [(3.0, 4.5), (9.5, 11.0)]):
        assert abs(event.start.timestamp() - t0 - start) < 0.8, event
        assert abs(event.end.timestamp() - t0 - end) < 0.8, event
        assert len(event.boxes) >= 20 and event.boxes[0] == (60.0, 40.0, 100.0, 80.0)
    assert not any(e.query == "a person" for e in got)
    assert read_events(tmp_path / "events.jsonl") == got  # durable, same order
    for event_id in {e.event_id for e in got}:  # each appearance: one open line, then its close
        assert [e.state for e in got if e.event_id == event_id] == ["open", "close"]
    assert all(c["queries"] == ["the red square", "a person"] for c in grounder.calls)
    assert watcher.source.stats.disconnects == 1 and watcher.source.stats.segments == 2


@pytest.mark.time_limit(40)
def test_frozen_camera_times_out_and_reconnects_when_it_comes_back(rtsp_server: Any) -> None:
    server = rtsp_server(fps=FPS)
    source = quick(server.url, read_timeout=1.0, open_timeout=1.5)
    watcher = Watcher(source, ["x"], RedGrounder(), FixedWindows(1, 0))
    watcher.start()
    assert wait_until(lambda: source.stats.frames > 10, 10)
    server.pause()  # SIGSTOP: the TCP connection stays open but nothing arrives
    assert wait_until(lambda: source.stats.disconnects >= 1, 6), source.stats
    frozen_at = source.stats.frames
    time.sleep(1.0)
    server.resume()
    assert wait_until(
        lambda: source.stats.reconnects >= 1 and source.stats.frames > frozen_at + 10, 15
    ), source.stats
    watcher.stop()
    assert (
        "no answer in time" in (source.stats.last_error or "") or source.stats.failed_attempts >= 1
    )


@pytest.mark.time_limit(30)
def test_watchdog_reconnects_when_packets_flow_but_no_frame_decodes(
    rtsp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = rtsp_server(fps=FPS)
    source = quick(server.url, stall_timeout=1.0)
    decoded = {"n": 0}
    real = StreamSource._decode

    def broken_after_a_while(packet: Any) -> list[Any]:
        decoded["n"] += 1
        return real(packet) if decoded["n"] < 30 else []  # the decoder goes silent

    monkeypatch.setattr(StreamSource, "_decode", staticmethod(broken_after_a_while))
    reader = threading.Thread(target=lambda: [None for _ in source], daemon=True)
    reader.start()
    assert wait_until(lambda: source.stats.disconnects >= 1, 15), source.stats
    source.stop()
    reader.join(5)
    assert not reader.is_alive() and source.stats.frames > 0
    assert "watchdog: no frame for 1 s" in (source.stats.last_error or "")


@pytest.mark.time_limit(30)
def test_open_line_within_one_window_of_the_first_confident_window(rtsp_server: Any) -> None:
    server = rtsp_server(fps=FPS, red="2-1000")  # the target appears and stays
    got: list[tuple[Any, int]] = []
    grounder = RedGrounder()
    watcher: Watcher

    def on_line(line: Any) -> None:
        got.append((line, watcher.status.windows_grounded))

    watcher = Watcher(
        quick(server.url),
        ["the red square"],
        grounder,
        FixedWindows(1, 0),
        sinks=[CallbackSink(on_line)],
    )
    watcher.start()
    assert wait_until(lambda: bool(got), 15), watcher.status
    watcher.stop()
    first_confident = next(k for k, call in enumerate(grounder.calls) if call["found"])
    (opened, grounded), *rest = got
    assert opened.state == "open" and opened.windows == (first_confident,)
    assert grounded == first_confident + 1  # written before the next window was grounded
    assert [line.state for line, _ in rest][-1:] == ["close"] and rest[-1][0].reason == "stopped"
