"""``tubescope ground`` and ``tubescope demo`` end to end (subprocess), with a tiny random model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tubescope import GroundingResult, Video
from tubescope.proposals import write_tracks
from tubescope.synthetic import make_clip
from tubescope.testing import save_tiny_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli_ground")
    clip = make_clip(work / "clip.mp4", num_frames=30, fps=15, seed=5)
    write_tracks(work / "tracks.json", [o.track for o in clip.objects])
    model = save_tiny_model("llava-onevision", work / "tiny")
    return work, clip, model


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tubescope.cli.main", *args], capture_output=True, text=True,
                          env=environment, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_ground_two_queries_writes_results_and_rendering(setup):
    work, clip, model = setup
    queries = [clip.objects[0].description, clip.objects[1].description]
    proc = run("ground", str(clip.path), *queries, "--model", str(model), "--proposals",
               f"precomputed:{work / 'tracks.json'}", "--frames", "4", "--out", str(work / "r.json"),
               "--render", str(work / "r.mp4"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((work / "r.json").read_text())
    results = [GroundingResult.from_dict(item) for item in data]
    assert [r.query for r in results] == queries
    assert all(r.stats["vision_encodes"] == 1 for r in results)
    assert results[0].proposal_source.startswith("precomputed")
    assert all(r.track_id in {0, 1, 2} for r in results)
    assert "span (s)" in proc.stdout and queries[0][:20] in proc.stdout
    assert Video(work / "r.mp4").frame_count == 30


def test_ground_paper_preset_and_attention_proposals(setup):
    work, clip, model = setup
    proc = run("ground", str(clip.path), "the red thing", "--model", str(model), "--preset", "paper",
               "--frames", "4", "--out", str(work / "p.json"))
    assert proc.returncode == 0, proc.stderr
    result = GroundingResult.from_json((work / "p.json").read_text())
    assert result.proposal_source == "attention"
    assert result.meta["config"]["token_rule"] == "fixed"
    # the paper samples over proposal frames; attention proposals have none, and it says so
    assert result.meta["sampled_over"] == "video" and "sample_frames" in proc.stderr


def test_ground_qwen3_vl_with_and_without_tas(setup):
    """A tiny Qwen3-VL (timestamped blocks, DeepStack) grounds end to end with one vision
    encode; ``--set tas=false`` drops the reversed pass (its question and caption forwards)."""
    work, clip, _ = setup
    model = save_tiny_model("qwen3-vl", work / "tiny-qwen3-vl")
    passes = {}
    for tas in (True, False):
        out = work / f"q3-{tas}.json"
        proc = run("ground", str(clip.path), clip.objects[0].description, "--model", str(model), "--frames", "4",
                   "--proposals", f"precomputed:{work / 'tracks.json'}", "--set", f"tas={str(tas).lower()}",
                   "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        result = GroundingResult.from_json(out.read_text())
        assert result.meta["family"] == "qwen3-vl" and result.meta["config"]["tas"] is tas
        assert result.stats["vision_encodes"] == 1
        assert result.tube is not None and result.track_id in {o.track_id for o in clip.objects}
        passes[tas] = result.stats["forward_passes"]
    assert passes[True] > passes[False]


def test_ground_bad_set_fails_before_the_model_loads(setup):
    work, clip, _ = setup
    proc = run("ground", str(clip.path), "x", "--model", "nobody/no-such-model", "--set", "tas=maybe")
    one_line_error(proc, "--set tas='maybe'")


def test_ground_bad_video_path(setup):
    work, _, model = setup
    one_line_error(run("ground", str(work / "nope.mp4"), "x", "--model", str(model)), "nope.mp4", "no such file")


def test_ground_empty_query(setup):
    work, clip, model = setup
    one_line_error(run("ground", str(clip.path), "  ", "--model", str(model)), "query is empty")


def test_ground_unknown_model_offline(setup):
    _, clip, _ = setup
    proc = run("ground", str(clip.path), "x", "--model", "nobody/no-such-model")
    one_line_error(proc, "nobody/no-such-model")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("foo", "unknown kind 'foo'; valid forms: \"attention\""),
        ("detector:yolo", "unknown detector 'yolo'; registered: grounding-dino, owlv2"),
    ],
)
def test_ground_bad_proposal_spec_is_one_line(setup, spec, fragment):
    work, clip, model = setup
    proc = run("ground", str(clip.path), "x", "--model", str(model), "--proposals", spec)
    one_line_error(proc, f"invalid proposal spec '{spec}'", fragment)


def test_ground_debug_shows_traceback(setup):
    _, clip, _ = setup
    proc = run("--debug", "ground", str(clip.path), "x", "--model", "nobody/no-such-model")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ModelUnavailableError" in proc.stderr


def test_demo_runs_offline_and_says_the_model_is_random(tmp_path):
    proc = run("demo", "--out", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr
    for name in ("clip.mp4", "ground_truth.json", "proposals.json", "result.json", "annotated.mp4", "report.json"):
        assert (tmp_path / "demo" / name).exists(), name
    assert "random weights" in proc.stdout and "meaningless" in proc.stdout
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["n_queries"] == 1 and report["n_missing"] == 0 and 0 <= report["m_vIoU"] <= 1
    result = GroundingResult.from_json((tmp_path / "demo" / "result.json").read_text())
    assert result.maps is not None and result.tube is not None
    assert Video(tmp_path / "demo" / "annotated.mp4").frame_count == Video(tmp_path / "demo" / "clip.mp4").frame_count
