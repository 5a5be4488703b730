"""``tubescope watch`` checks everything cheap before it loads the model: one line, exit 2.

Before, a blank query, an unwritable events path, wrong camera credentials, a wrong stream
path or an unreachable camera surfaced only after the model had loaded (minutes for a 7B
model), some as tracebacks, and ``--window 2s`` alone blamed ``--overlap`` in four lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tubescope.cli import watch_cmd
from tubescope.cli.main import cli
from tubescope.errors import ValidationError
from tubescope.synthetic import make_clip

from .conftest import free_port


class ModelLoader:
    """Stands in for ``_load_grounder``: records the call and stops the command there."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        raise ValidationError("the checks passed; the model would load now", "--model")


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModelLoader:
    fake = ModelLoader()
    monkeypatch.setattr(watch_cmd, "_load_grounder", fake)
    monkeypatch.chdir(tmp_path)  # the default --events path must not land in the repository
    return fake


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "nvr"
    path.mkdir()
    make_clip(path / "clip.mp4", width=96, height=64, num_frames=5, fps=5)
    return path


def watch(*args: str) -> Any:
    return CliRunner().invoke(cli, ["watch", *args, "--model", "some/model"])


def one_line_error(result: Any) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "2s"], "--window 2s: must be longer than --overlap (2s by default)"),
        (["--overlap", "12s"], "--overlap 12s: must be shorter than --window (10s by default)"),
        (["--window", "2s", "--overlap", "3s"], "--overlap 3s: must be shorter than --window 2s"),
        (["--motion", "--window", "2s"], "--window 2s: must be longer than --pre-roll"),
        (["--motion", "--pre-roll", "12s"], "--pre-roll 12s: must be shorter than --window"),
        (["--pre-roll", "1s"], "--pre-roll: only applies with --motion"),
        (["--window", "0s"], "--window 0s: must be longer than 0 s"),
        (["--window", "soon"], "--window soon: not a duration"),
        (["--max-event", "5s"], "--max-event 5s: must be at least --window"),
        (["--update-every", "0s"], "--update-every 0s: must be longer than 0 s"),
        (["--min-score", "2"], "'--min-score': 2.0 is not in the range"),
        (["--time-pattern", "cam_%Q"], "--time-pattern 'cam_%Q': unsupported directive %Q"),
        (["--time-pattern", "cam"], "--time-pattern 'cam': has no date or time directive"),
        (["--tz", "Mars/Olympus"], "--tz Mars/Olympus: unknown time zone"),
    ],
)
def test_argument_errors_name_the_argument_given(
    args: list[str], message: str, folder: Path, loader: ModelLoader
) -> None:
    line = one_line_error(watch(str(folder), "-q", "a red car", *args))
    assert message in line
    assert loader.calls == []


def test_queries_must_not_be_blank(folder: Path, loader: ModelLoader) -> None:
    line = one_line_error(watch(str(folder), "-q", "a red car", "-q", "   "))
    assert "--query: query 2 is empty" in line and loader.calls == []
    line = one_line_error(watch(str(folder)))
    assert "Missing option '-q' / '--query'" in line and loader.calls == []


def test_output_paths_are_checked_before_the_model_loads(
    folder: Path, tmp_path: Path, loader: ModelLoader
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    line = one_line_error(watch(str(folder), "-q", "x", "--events", str(blocker / "e.jsonl")))
    assert f"--events {blocker / 'e.jsonl'}: cannot be created: {blocker} is a file" in line
    line = one_line_error(watch(str(folder), "-q", "x", "--clips", str(blocker)))
    assert "'--clips'" in line and "is a file" in line
    line = one_line_error(watch(str(folder), "-q", "x", "--events", str(tmp_path)))
    assert "'--events'" in line and "is a directory" in line
    line = one_line_error(watch(str(folder), "-q", "x", "--clips", "/proc/tubescope-clips"))
    assert "--clips /proc/tubescope-clips: cannot be created" in line
    assert loader.calls == [] and not Path("events.jsonl").exists()


def test_a_time_pattern_that_misses_the_first_file_warns_and_falls_back(
    folder: Path, loader: ModelLoader
) -> None:
    result = watch(str(folder), "-q", "x", "--time-pattern", "%Y%m%d_%H%M%S", "--once")
    lines = result.output.strip().splitlines()
    assert lines[0] == (
        "warning: time pattern '%Y%m%d_%H%M%S' does not match clip.mp4; its start time comes "
        "from the container's creation_time or the file's modification time instead"
    )
    assert len(loader.calls) == 1  # a warning, not an error: the model loads


def test_an_unreadable_video_file_is_reported_before_the_model_loads(
    tmp_path: Path, loader: ModelLoader
) -> None:
    bad = tmp_path / "cam.mp4"
    bad.write_bytes(b"not a video at all")
    line = one_line_error(watch(str(bad), "-q", "x"))
    assert f"{bad}: not a readable video file" in line and loader.calls == []


def test_unreachable_camera_is_one_line_before_the_model_loads(loader: ModelLoader) -> None:
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/cam"
    line = one_line_error(watch(url, "-q", "x"))
    assert "rtsp://***@127.0.0.1" in line and "--no-probe" in line and "hunter2" not in line
    assert loader.calls == []
    started = watch(url, "-q", "x", "--no-probe")  # the user asked to start anyway
    assert len(loader.calls) == 1 and "the model would load now" in started.output


@pytest.mark.time_limit(30)
def test_camera_credentials_and_stream_path_are_probed_before_the_model_loads(
    rtsp_server: Any, loader: ModelLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = rtsp_server(user="operator", password="right-pw")
    base = f"rtsp://127.0.0.1:{server.port}"
    line = one_line_error(watch(f"rtsp://operator:wrong-pw@127.0.0.1:{server.port}/cam", "-q", "x"))
    assert "the server rejected the credentials" in line and "wrong-pw" not in line
    monkeypatch.setenv("GATE_CAM", "operator:wrong-pw")
    line = one_line_error(watch(f"{base}/cam", "-q", "x", "--credentials-env", "GATE_CAM"))
    assert "rejected the credentials" in line and "wrong-pw" not in line
    monkeypatch.setenv("GATE_CAM", "operator:right-pw")
    line = one_line_error(
        watch(f"{base}/no-such-mount", "-q", "x", "--credentials-env", "GATE_CAM")
    )
    assert "no such stream on the server" in line
    monkeypatch.delenv("GATE_CAM")
    line = one_line_error(watch(f"{base}/cam", "-q", "x", "--credentials-env", "GATE_CAM"))
    assert "environment variable GATE_CAM (camera credentials) is not set" in line
    assert loader.calls == []
    monkeypatch.setenv("GATE_CAM", "operator:right-pw")
    result = watch(f"{base}/cam", "-q", "x", "--credentials-env", "GATE_CAM")
    assert len(loader.calls) == 1 and "the model would load now" in result.output
    assert "right-pw" not in result.output
