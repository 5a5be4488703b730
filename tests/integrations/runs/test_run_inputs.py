"""``tubescope run`` on bad input: everything that needs no model is checked before it loads;
input errors are recorded as such and use no retries; exit status 3 when a query failed.

The model loader is replaced by one that records its calls and returns the planted stub
backend, so "the model was not loaded" is an assertion, not a hope.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from tubescope.cli.main import cli
from tubescope.errors import AnnotationError
from tubescope.integrations.runs import RunError, run_dataset

from tests.engine.stub_backend import StubBackend
from tests.integrations.runs.helpers import run_args, write_hcstvg, write_vidstg
from tests.stub_loader import plant_stub_loader

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The model ids the run loaded (the loader hands out a stub backend)."""
    return plant_stub_loader(monkeypatch)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Two good videos, no corrupt one (read-only: copy before changing)."""
    return write_hcstvg(tmp_path_factory.mktemp("clean"), count=2, corrupt=False)


def run_cli(ds, out, *extra, videos=None):
    return CliRunner().invoke(cli, run_args(ds, "some/model", out, *extra, videos=videos))


def one_line_error(result, *needles: str) -> str:
    """The run failed with exit 2 and one ``error:`` line holding every needle."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ----------------------------------------------------------------------- before the model loads
def test_a_good_run_loads_the_model_once_and_exits_0(clean, tmp_path, loads):
    result = run_cli(clean, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert loads == ["some/model"]
    assert len(records(tmp_path / "out" / "predictions.jsonl")) == 2


def test_wrong_videos_folder_stops_before_the_model_loads(clean, tmp_path, loads):
    wrong = tmp_path / "elsewhere"
    wrong.mkdir()
    line = one_line_error(run_cli(clean, tmp_path / "out", videos=wrong), "--videos", str(wrong))
    assert "none of the 2 videos" in line and "0_clip00" in line
    assert loads == []
    assert records(tmp_path / "out" / "failures.jsonl") == []
    assert not (tmp_path / "out" / "run.json").exists()


def test_missing_videos_folder_names_the_flag(clean, tmp_path, loads):
    one_line_error(run_cli(clean, tmp_path / "out", videos=tmp_path / "nowhere"), "--videos")
    assert loads == []


@pytest.mark.parametrize(
    "setting, needles",
    [
        ("num_frames=abc", ("--set num_frames", "integer", "'abc'")),
        ("num_frames=0", ("--set num_frames", "at least 1")),
        ("num_frames=2.5", ("--set num_frames", "integer")),
        ("lra_beta=2", ("--set lra_beta", "[0, 1]")),
        ("tas=maybe", ("--set tas", "true or false")),
        ("token_rule=best", ("--set token_rule", "'adaptive'")),
        ('layers=[1, "x"]', ("--set layers",)),
        ("resolution=none", None),
        ("nmu_frames=8", ("--set nmu_frames", "unknown setting", "num_frames")),
        ("num_frames", ("--set", "KEY=VALUE")),
    ],
)
def test_set_values_are_typed_and_range_checked_before_loading(
    clean, tmp_path, loads, setting, needles
):
    result = run_cli(clean, tmp_path / "out", "--set", setting)
    if needles is None:  # a valid value of a nullable field
        assert result.exit_code == 0, result.output
        return
    one_line_error(result, *needles)
    assert loads == []


def test_videos_too_short_for_the_sampled_frames_stop_before_loading(clean, tmp_path, loads):
    line = one_line_error(
        run_cli(clean, tmp_path / "out", "--set", "num_frames=50"), "--set num_frames"
    )
    assert "40 frames" in line and "50" in line
    assert loads == []


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--proposals", "detector:yolo", "--proposals"),
        ("--proposals", "magic", "--proposals"),
        ("--decompositions", "BAD_JSON", "--decompositions"),
        ("--decompositions", "NOT_AN_OBJECT", "--decompositions"),
        ("--dtype", "int8", "--dtype"),
        ("--device", "tpu", "--device"),
    ],
)
def test_bad_specs_and_files_stop_before_loading(clean, tmp_path, loads, flag, value, needle):
    if value == "BAD_JSON":
        value = str(tmp_path / "d.json")
        Path(value).write_text("{not json")
    elif value == "NOT_AN_OBJECT":
        value = str(tmp_path / "d.json")
        Path(value).write_text("[1, 2]")
    one_line_error(run_cli(clean, tmp_path / "out", flag, value), needle)
    assert loads == []


def test_bad_annotations_stop_before_loading(clean, tmp_path, loads):
    bad = tmp_path / "test.json"
    data = json.loads(clean.annotations.read_text())
    data["0_clip00.mp4"]["bbox"][0] = [1, 2, 3]
    bad.write_text(json.dumps(data))
    ds = type(clean)(tmp_path, bad, clean.videos, clean.proposals, clean.video_ids, None)
    one_line_error(run_cli(ds, tmp_path / "out"), "record '0_clip00.mp4'", "bbox[0]")
    assert loads == []


def test_an_output_folder_that_cannot_be_created_names_the_flag(clean, tmp_path, loads):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(run_cli(clean, blocker / "out"), "--out")
    one_line_error(run_cli(clean, blocker), "--out")
    assert loads == []


def test_missing_proposal_files_are_input_errors_found_before_loading(clean, tmp_path, loads):
    props = tmp_path / "props"
    shutil.copytree(clean.proposals, props)
    (props / "1_clip01.json").unlink()
    ds = type(clean)(tmp_path, clean.annotations, clean.videos, props, clean.video_ids, None)
    for _ in range(2):
        result = run_cli(ds, tmp_path / "out", "--retries", "0")
        assert result.exit_code == 3, result.output
        assert "1 video without proposals" in result.output
    failures = records(tmp_path / "out" / "failures.jsonl")
    assert [(f["query_id"], f["cause"], f["input_error"], f["attempt"]) for f in failures] == [
        ("1_clip01", "missing proposals", True, None)
    ] * 2
    assert loads == ["some/model"]  # the other video was grounded (one load per run)
    (props / "0_clip00.json").unlink()
    (tmp_path / "out").rename(tmp_path / "old")
    line = one_line_error(run_cli(ds, tmp_path / "out"), "none of the 2 videos", "first: 0_clip00")
    assert "2 videos without proposals" in line and loads == ["some/model"]


# ------------------------------------------------------------------ input errors use no retries
def test_runs_with_the_wrong_folder_never_use_up_retries(clean, tmp_path, loads):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    out = tmp_path / "out"
    for _ in range(4):
        one_line_error(run_cli(clean, out, "--retries", "2", videos=wrong), "--videos")
    result = run_cli(clean, out, "--retries", "2")
    assert result.exit_code == 0, result.output
    assert "2 in this run" in result.output
    assert len(records(out / "predictions.jsonl")) == 2 and loads == ["some/model"]


def test_missing_videos_are_input_errors_and_a_fixed_folder_grounds_them(clean, tmp_path, loads):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(clean.videos / "0_clip00.mp4", partial)
    out = tmp_path / "out"
    for _ in range(3):
        result = run_cli(clean, out, "--retries", "1", videos=partial)
        assert result.exit_code == 3, result.output
    failures = records(out / "failures.jsonl")
    assert [(f["query_id"], f["cause"], f["input_error"], f["attempt"]) for f in failures] == [
        ("1_clip01", "missing video", True, None)
    ] * 3
    result = run_cli(clean, out, "--retries", "1")  # the complete folder
    assert result.exit_code == 0, result.output
    assert "1 in this run" in result.output
    assert sorted(r["query_id"] for r in records(out / "predictions.jsonl")) == [
        "0_clip00",
        "1_clip01",
    ]


def test_a_corrupt_video_is_an_input_error_that_uses_no_retries(tmp_path, loads):
    ds = write_hcstvg(tmp_path / "data", count=1)
    out = tmp_path / "out"
    for _ in range(4):
        result = run_cli(ds, out, "--retries", "0")
        assert result.exit_code == 3, result.output
    failures = records(out / "failures.jsonl")
    assert [(f["query_id"], f["cause"], f["attempt"]) for f in failures] == [
        (ds.corrupt, "unreadable video", None)
    ] * 4
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["failed"][0]["attempts"] == 0
    assert report["run"]["failed"][0]["input_error"] is True


def test_a_vidstg_segment_outside_its_video_is_a_bad_annotation(tmp_path, loads):
    """The annotation file contradicts itself: refused in one line, before any model loads."""
    ds = write_vidstg(tmp_path / "data")
    data = json.loads(ds.annotations.read_text())
    entry = data["videos"][2]  # the second segment of the first video, moved past its end
    entry["start_frame"], entry["end_frame"] = 60, 70
    entry["tube_start_frame"], entry["tube_end_frame"] = 61, 69
    boxes = data["trajectories"][entry["original_video_id"]][str(entry["target_id"])]
    boxes.update({str(f): {"bbox": [10, 10, 20, 20]} for f in range(60, 71)})
    ds.annotations.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"record 2, field 'tube_end_frame': 69 runs past the video's 40 frames"):
        run_dataset(
            "vidstg",
            ds.annotations,
            ds.videos,
            tmp_path / "out",
            model="some/model",
            proposals=ds.proposals,
            decompositions="rules",
            overrides={"num_frames": 4},
        )
    assert loads == []


# ------------------------------------------------------------------------------ exit status 3
def test_failed_queries_exit_3_with_a_one_line_summary(tmp_path, loads):
    ds = write_hcstvg(tmp_path / "data", count=2)
    result = run_cli(ds, tmp_path / "out")
    assert result.exit_code == 3, result.output
    summary = [line for line in result.output.splitlines() if line.startswith("failed:")]
    expected = (
        "failed: 1 of 3 queries (1 unreadable video; input errors use no retries: fix the input "
        f"and rerun); first failing video: {ds.corrupt} "
        f"(VideoError: {ds.videos / (ds.corrupt + '.mp4')}: not a readable video file "
        "(Invalid data found when processing input))"
    )
    assert summary == [expected]
    assert f"{ds.corrupt} (input error)" in result.output
    assert "1 query failed and scores 0" in result.output


def test_a_transient_failure_that_used_its_attempts_exits_3(clean, tmp_path, monkeypatch):
    class Failing(StubBackend):
        def encode(self, frames, frame_indices=None):
            raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr("tubescope.engine.backends.load_backend", lambda *a, **k: Failing(4, 4, 4))
    monkeypatch.setattr("tubescope.engine.backends.detect_family", lambda name: "qwen2-vl")
    result = run_cli(clean, tmp_path / "out", "--retries", "0", "--limit", "1")
    assert result.exit_code == 3, result.output
    assert "0_clip00 (1 attempt): RuntimeError: CUDA out of memory" in result.output
    assert "failed: 1 of 1 query (1 RuntimeError); first failing video: 0_clip00" in result.output


def test_ctrl_c_exits_130(clean, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("tubescope.integrations.runs.run_dataset", interrupted)
    result = run_cli(clean, tmp_path / "out")
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output


def test_python_api_refuses_mistyped_overrides_naming_the_key(clean, tmp_path):
    with pytest.raises(RunError, match="--set num_frames='8': expected an integer"):
        run_dataset(
            "hcstvg-v1",
            clean.annotations,
            clean.videos,
            tmp_path / "out",
            model=StubBackend(4, 4, 4),
            overrides={"num_frames": "8"},
        )
