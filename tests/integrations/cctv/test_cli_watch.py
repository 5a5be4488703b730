"""``tubescope watch``: a real subprocess against the loopback camera, folders, errors, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tubescope.cli.main import cli
from tubescope.integrations.cctv import fold_events, read_events
from tubescope.synthetic import ShapeSpec, make_clip
from tubescope.video import Video

from .conftest import wait_until
from .watchproc import watch_env

STUB = "stub:stubs:make_grounder"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.time_limit(150)  # a hang guard: about 12 s idle, 45 s with the cores busy
def test_watch_rtsp_writes_events_and_clips_and_stops_cleanly_on_ctrl_c(
    rtsp_server: Any, tmp_path: Path
) -> None:
    # red after start-up, the probe and the connection; repeated in case a loaded machine
    # starts the watcher late (the test stops it after the first event's two lines)
    server = rtsp_server(fps=20, red="6-7.5,14-15.5,22-23.5")
    events, clips = tmp_path / "events.jsonl", tmp_path / "clips"
    cmd = [
        sys.executable,
        "-m",
        "tubescope.cli.main",
        "watch",
        server.url,
        "--query",
        "the red square",
        "--query",
        "a person",
        "--window",
        "2s",
        "--overlap",
        "0.5s",
        "--events",
        str(events),
        "--clips",
        str(clips),
        "--model",
        STUB,
    ]
    proc = subprocess.Popen(
        cmd,
        env=watch_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert wait_until(lambda: _lines(events) >= 2 or proc.poll() is not None, 40)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=60)  # the window being grounded finishes first
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopping" in err
    folded = fold_events(events)
    # a loaded machine may see a later red square before the Ctrl-C lands: one event each
    assert f"{len(folded)} event{'s' if len(folded) > 1 else ''} ({2 * len(folded)} lines) ->" in err
    assert str(events) in err
    event = folded[0]
    assert [line.state for line in read_events(events) if line.event_id == event.event_id] == ["open", "close"]
    assert event.reason == "ended"
    assert event.query == "the red square" and event.source_id == f"127.0.0.1:{server.port}/cam"
    assert min(abs(event.start.timestamp() - server.t0 - red) for red in (6.0, 14.0, 22.0)) < 0.8
    assert event.clip is not None and Path(event.clip).parent == clips
    with Video(event.clip) as clip:
        assert clip.frame_count >= 20 and clip.info.codec == "h264"


@pytest.fixture
def export_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "nvr"
    folder.mkdir()
    square = ShapeSpec(
        color="red",
        kind="square",
        size=20,
        start=(30.0, 60.0),
        end=(120.0, 60.0),
        appear=4,
        disappear=16,
    )
    make_clip(
        folder / "door_20260301_080000.mp4",
        width=160,
        height=120,
        num_frames=20,
        fps=10,
        shapes=[square],
    )
    return folder


def test_watch_folder_once(
    export_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUBESCOPE_TESTING", "1")
    events = tmp_path / "ev.jsonl"
    args = [
        "watch",
        str(export_folder),
        "-q",
        "the red square",
        "--once",
        "--settle",
        "0s",
        "--window",
        "1s",
        "--overlap",
        "0s",
        "--events",
        str(events),
        "--model",
        STUB,
        "--time-pattern",
        "%Y%m%d_%H%M%S",
        "--tz",
        "UTC",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (event,) = fold_events(events)
    lines = read_events(events)
    assert [e.state for e in lines] == ["open", "close"]
    assert (
        event.source_id == "nvr" and event.start.isoformat() == "2026-03-01T08:00:00.400000+00:00"
    )
    assert Path(event.file).name == "door_20260301_080000.mp4" and event.positions[0] == 4
    again = CliRunner().invoke(cli, args)  # resumes: nothing new
    assert again.exit_code == 0 and "0 frames" in again.output and read_events(events) == lines


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands with the default --events path must not write into the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["watch", "/no/such/place", "-q", "x", "--model", STUB],
            "error: /no/such/place: no such file or folder",
        ),
        (
            ["watch", ".", "-q", "x", "--model", STUB, "--window", "2s", "--overlap", "3s"],
            "--overlap 3s: must be shorter than --window 2s",
        ),
        (["watch", ".", "-q", "x", "--model", STUB, "--window", "soon"], "not a duration"),
    ],
)
def test_watch_usage_errors_are_one_line(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUBESCOPE_TESTING", "1")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_stub_models_need_the_testing_switch(
    export_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUBESCOPE_TESTING", raising=False)
    result = CliRunner().invoke(
        cli, ["watch", str(export_folder), "-q", "x", "--once", "--model", STUB]
    )
    assert result.exit_code == 2 and "test hook" in result.output


def test_auth_failure_at_start_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUBESCOPE_TESTING", "1")
    monkeypatch.delenv("MISSING_CAM_SECRET", raising=False)
    result = CliRunner().invoke(
        cli,
        [
            "watch",
            "rtsp://admin:hunter2@127.0.0.1:9/cam",
            "-q",
            "x",
            "--model",
            STUB,
            "--credentials-env",
            "MISSING_CAM_SECRET",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "MISSING_CAM_SECRET" in result.output and "hunter2" not in result.output
    assert not Path("events.jsonl").exists()  # a failed start leaves no empty events file
