"""File and iterable sources, open_source, backoff, and stop() in every state of a stream source."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from tubescope.integrations.cctv import (
    Backoff,
    FileSource,
    FixedWindows,
    FolderSource,
    IterableSource,
    Source,
    SourceConnectionError,
    SourceError,
    SourceNotFoundError,
    StreamSource,
    open_source,
)
from tubescope.synthetic import SyntheticClip, make_clip, read_barcode

from .conftest import free_port


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> SyntheticClip:
    return make_clip(
        tmp_path_factory.mktemp("src") / "cam1_20260301_101500.mp4",
        num_frames=30,
        fps=Fraction(30000, 1001),
        seed=3,
    )


def test_file_source_fast_yields_every_frame_with_three_clocks(clip: SyntheticClip) -> None:
    source = FileSource(clip.path, time_pattern="%Y%m%d_%H%M%S", tz="Europe/Paris")
    got = list(source)
    assert [f.index for f in got] == list(range(30)) and [f.position for f in got] == list(
        range(30)
    )
    assert [read_barcode(f.image) for f in got] == list(range(30))  # frame-exact
    assert np.allclose([f.time for f in got], clip.timestamps)
    assert got[0].fps == Fraction(30000, 1001) and source.stats.fps == Fraction(30000, 1001)
    start = datetime(2026, 3, 1, 9, 15, tzinfo=timezone.utc)  # 10:15 in Paris (CET, UTC+1)
    assert got[0].wallclock == start and source.stats.time_source == "filename"
    assert got[-1].wallclock == start + timedelta(seconds=float(clip.timestamps[-1]))
    assert all(f.wallclock.tzinfo is not None for f in got) and got[0].file == str(clip.path)
    assert source.stats.state == "ended" and not source.is_live


def test_file_source_start_time_without_pattern_falls_back_to_mtime(clip: SyntheticClip) -> None:
    source = FileSource(clip.path)
    first = next(iter(source))
    assert source.stats.time_source == "mtime"
    expected = datetime.fromtimestamp(os.path.getmtime(clip.path), tz=timezone.utc) - timedelta(
        seconds=30 * 1001 / 30000
    )
    assert abs((first.wallclock - expected).total_seconds()) < 1e-3


def test_file_source_realtime_replays_at_its_own_speed(tmp_path: Path) -> None:
    made = make_clip(tmp_path / "rt.mp4", num_frames=15, fps=20)
    source = FileSource(made.path, realtime=True)
    started = time.monotonic()
    got = list(source)
    elapsed = time.monotonic() - started
    assert len(got) == 15 and source.is_live and source.stats.time_source == "replay"
    assert 0.6 <= elapsed < 2.5  # 14 frame intervals of 50 ms
    assert abs((got[-1].wallclock - got[0].wallclock).total_seconds() - 0.7) < 1e-6


def test_file_source_stop_from_another_thread(tmp_path: Path) -> None:
    made = make_clip(tmp_path / "long.mp4", num_frames=60, fps=10)
    source = FileSource(made.path, realtime=True)
    threading.Timer(0.3, source.stop).start()
    got = list(source)
    assert 1 <= len(got) < 10 and source.stats.state == "stopped"


def test_iterable_source_counts_and_clock() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    source = IterableSource(
        (np.zeros((4, 4, 3), np.uint8) for _ in range(5)), fps=Fraction(25, 2), start_time=start
    )
    got = list(source)
    assert [f.time for f in got] == [0.0, 0.08, 0.16, 0.24, 0.32]
    assert got[4].wallclock == start + timedelta(seconds=0.32) and source.stats.frames == 5


def test_open_source_dispatch(tmp_path: Path, clip: SyntheticClip) -> None:
    assert isinstance(
        open_source("rtsp://h/x", realtime=True), StreamSource
    )  # options of other kinds ignored
    assert isinstance(open_source("https://h/live/index.m3u8"), StreamSource)
    assert isinstance(open_source(tmp_path), FolderSource)
    assert isinstance(open_source(clip.path, transport="udp"), FileSource)
    with pytest.raises(SourceNotFoundError, match="no such file"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(SourceNotFoundError, match="scheme 'gopher'"):
        open_source("gopher://h/x")


def test_a_new_source_kind_is_one_class_through_the_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tubescope.integrations.cctv import Watcher, source_kinds
    from tubescope.integrations.cctv.sources import base

    monkeypatch.setattr(base, "SOURCE_KINDS", dict(base.SOURCE_KINDS))  # forgotten after the test

    class ScreenSource(Source, kind="screen", priority=5):
        """A dummy kind: ``screen:N`` yields N black frames."""

        schemes = ("screen",)

        @classmethod
        def accepts(cls, spec: str) -> bool:
            return spec.startswith("screen:")

        def __init__(self, spec: str, *, source_id: str | None = None, fps: int = 10) -> None:
            super().__init__(source_id or spec)
            self.count, self.fps = int(spec.split(":")[1]), fps

        def frames(self):  # type: ignore[no-untyped-def]
            inner = IterableSource(
                (np.zeros((8, 8, 3), np.uint8) for _ in range(self.count)),
                fps=self.fps,
                source_id=self.source_id,
            )
            yield from inner
            self._end_segment(0)

    assert list(source_kinds()) == ["screen", "stream", "folder", "file"]
    source = open_source("screen:30", fps=5, transport="udp", state_file=tmp_path / "x")
    assert isinstance(source, ScreenSource) and source.fps == 5  # options it does not take: ignored
    assert ScreenSource.option_names() == {"source_id", "fps"}
    assert open_source("screen:3", kind="screen").count == 3
    assert isinstance(open_source(str(tmp_path)), FolderSource)  # the others still dispatch
    from .stubs import AlwaysGrounder

    status = Watcher(open_source("screen:20"), ["x"], AlwaysGrounder(), FixedWindows(1, 0)).run()
    assert status.state == "finished" and status.windows_grounded == 2 and status.events == 1
    with pytest.raises(ValueError, match="already taken"):

        class Clash(Source, kind="screen"):
            def frames(self):  # type: ignore[no-untyped-def]
                return iter(())


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    backoff = Backoff(initial=0.5, maximum=30, factor=2, jitter=0.25)
    rng = random.Random(1)
    delays = [backoff.delay(n, rng) for n in range(10)]
    for n, delay in enumerate(delays):
        base = min(30, 0.5 * 2**n)
        assert base * 0.75 <= delay <= base * 1.25
    assert len({round(backoff.delay(3, rng), 6) for _ in range(20)}) > 10  # jitter scatters retries
    with pytest.raises(ValueError):
        Backoff(initial=0)


def test_stream_source_stop_works_in_every_state() -> None:
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/cam"
    # 1. before it ever ran
    never = StreamSource(url)
    never.stop()
    never.stop()
    assert list(never) == [] and never.stats.state == "stopped"
    # 2. during the reconnect backoff after failed connects (connection refused)
    backing_off = StreamSource(url, backoff=Backoff(5.0, 5.0, jitter=0))
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(list(backing_off)))
    thread.start()
    assert _wait(lambda: backing_off.stats.failed_attempts >= 1, 5)
    started = time.monotonic()
    backing_off.stop()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 1.0 and result == [[]]
    assert (
        isinstance(backing_off.stats.last_error, str)
        and "refused" in backing_off.stats.last_error.lower()
    )
    # 3. after giving up
    failed = StreamSource(url, backoff=Backoff(0.01, 0.02), max_retries=2)
    with pytest.raises(SourceConnectionError):
        list(failed)
    failed.stop()
    assert failed.stats.state == "failed"


def test_stream_source_rejects_non_stream_urls() -> None:
    with pytest.raises(SourceError, match="not a stream URL"):
        StreamSource("/tmp/x.mp4")


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
