"""The command line: version, info, synth, and the one-line error policy (exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tubescope._version import __version__
from tubescope.cli.main import cli

from tests.fresh_python import run_python


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_help_imports_neither_torch_nor_transformers():
    code = "from tubescope.cli.main import main\nmain(['--help'])\n"
    proc = run_python(code, blocked=("torch", "transformers"))
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout and "ground" in proc.stdout


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_info_prints_true_frame_count_and_fps(h264_clip):
    result = run("info", str(h264_clip.path))
    assert result.exit_code == 0, result.output
    assert "120" in result.output and "30 (30/1)" in result.output and "320x240" in result.output


def test_info_json(mpeg4_clip):
    result = run("info", str(mpeg4_clip.path), "--json")
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["frame_count"] == 60 and info["fps_fraction"] == "30000/1001"
    assert info["fps"] == pytest.approx(29.97, abs=1e-3)


def _one_line_error(result, name: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and name in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_info_on_truncated_file_exits_2_with_one_line(tmp_path, h264_clip):
    data = h264_clip.path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    _one_line_error(run("info", str(cut)), "cut.mp4")


def test_info_on_text_file_exits_2_with_one_line(tmp_path):
    text = tmp_path / "readme.txt"
    text.write_text("hello\n" * 20)
    line = _one_line_error(run("info", str(text)), "readme.txt")
    assert "not a readable video file" in line


def test_info_on_missing_file(tmp_path):
    line = _one_line_error(run("info", str(tmp_path / "gone.mp4")), "gone.mp4")
    assert "no such file" in line


def test_debug_shows_the_traceback(tmp_path):
    text = tmp_path / "x.mp4"
    text.write_text("nope")
    proc = subprocess.run(
        [sys.executable, "-m", "tubescope.cli.main", "--debug", "info", str(text)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "VideoError" in proc.stderr


def test_console_script_exit_code(tmp_path):
    text = tmp_path / "x.mp4"
    text.write_text("nope")
    proc = subprocess.run(
        [sys.executable, "-m", "tubescope.cli.main", "info", str(text)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {text}: not a readable video file (Invalid data found when processing input)"]


def test_synth_writes_clip_and_truth(tmp_path):
    out, truth = tmp_path / "s.mp4", tmp_path / "s.json"
    result = run("synth", str(out), "--frames", "30", "--size", "160x120", "--truth", str(truth))
    assert result.exit_code == 0, result.output
    data = json.loads(truth.read_text())
    assert len(data["objects"]) == 3
    assert all(obj["description"].startswith("the ") for obj in data["objects"])
    info = json.loads(run("info", str(out), "--json").output)
    assert (info["frame_count"], info["width"], info["height"]) == (30, 160, 120)


def test_synth_bad_size_is_a_usage_error(tmp_path):
    result = run("synth", str(tmp_path / "s.mp4"), "--size", "big")
    assert result.exit_code == 2 and "WIDTHxHEIGHT" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["info"], "Missing argument 'VIDEO'"),
        (["synth", "x.mp4", "--frames", "abc"], "'--frames': 'abc' is not a valid integer"),
        (["ground", "v.mp4", "q", "--bogus"], "No such option '--bogus'"),
        (["--debug", "eval", "--dataset", "hcstvg-v1"], "Missing option '--annotations'"),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag(args, needle):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("error: ") and needle in result.output


def test_no_arguments_show_the_help():
    result = run()
    assert "Usage:" in result.output and "ground" in result.output


def test_synth_counts_one_frame_in_the_singular(tmp_path):
    result = run("synth", str(tmp_path / "one.mp4"), "--frames", "1", "--size", "96x64", "--shapes", "1")
    assert result.exit_code == 0, result.output
    assert "(1 frame," in result.output


def test_debug_works_after_the_subcommand(tmp_path):
    text = tmp_path / "x.mp4"
    text.write_text("nope")
    proc = subprocess.run(
        [sys.executable, "-m", "tubescope.cli.main", "info", str(text), "--debug"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "VideoError" in proc.stderr
