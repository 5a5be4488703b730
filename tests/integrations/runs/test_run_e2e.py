"""End to end: ``tubescope run`` on a synthetic HC-STVG split with a tiny real model.

Uninterrupted run, a run killed with SIGKILL (plus a torn last line) and resumed, a truncated
predictions file resumed, and the same job on a local 2-CPU Ray instance must all end with the
same predictions and the same report.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tubescope.cli.main import cli
from tubescope.eval import evaluate
from tubescope.integrations.runs import run_dataset
from tubescope.types.schema import SCHEMA_VERSION

from tests.integrations.runs.helpers import dying_stub_backend, run_args

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def invoke(*args, code=3):
    """Run the CLI; the synthetic split's corrupt video fails, so a finished run exits 3."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines())


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def comparable(out: Path) -> dict:
    """Everything in the report but provenance, plus the per-query scores."""
    data = report(out)
    data.pop("provenance")
    with open(out / "per_query.csv", newline="") as handle:
        data["per_query"] = list(csv.DictReader(handle))
    return data


@pytest.fixture(scope="module")
def reference(hcstvg, tiny_model, tmp_path_factory):
    """One uninterrupted run through the CLI."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    result = invoke(*run_args(hcstvg, tiny_model, out))
    return out, result.output


def test_run_completes_with_predictions_report_and_provenance(reference, hcstvg, tiny_model):
    out, output = reference
    good = [v for v in hcstvg.video_ids if v != hcstvg.corrupt]
    predictions = [
        json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()
    ]
    assert sorted(p["query_id"] for p in predictions) == sorted(good)
    assert all(set(p) == {"schema_version", "video_id", "query_id", "tube"} for p in predictions)
    assert all(p["schema_version"] == SCHEMA_VERSION for p in predictions)
    data = report(out)
    # the corrupt video: recorded with its error, scored 0 as a missing prediction, summarised
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [
        (f["query_id"], f["error_type"], f["cause"], f["input_error"], f["attempt"])
        for f in failures
    ] == [(hcstvg.corrupt, "VideoError", "unreadable video", True, None)]
    assert data["metrics"]["n_queries"] == 5 and data["metrics"]["n_missing"] == 1
    assert data["run"]["n_failed"] == 1 and data["run"]["failed"][0]["query_id"] == hcstvg.corrupt
    assert "VideoError" in data["run"]["failed"][0]["error"]
    with open(out / "per_query.csv", newline="") as handle:
        rows = {r["query_id"]: r for r in csv.DictReader(handle)}
    assert rows[hcstvg.corrupt]["missing"] == "1" and float(rows[hcstvg.corrupt]["vIoU"]) == 0.0
    assert "1 query failed" in output and hcstvg.corrupt in output and "report:" in output
    assert f"first failing video: {hcstvg.corrupt}" in output.splitlines()[-1]
    assert "hcstvg-v1" in (out / "report.txt").read_text()
    # the report is what the evaluator says about the predictions file itself
    direct = evaluate(hcstvg.annotations, out / "predictions.jsonl", dataset="hcstvg-v1")
    assert direct.to_dict() == data["metrics"]
    # provenance
    prov = data["provenance"]
    assert (
        prov["model"]["id"] == str(tiny_model.resolve()) and prov["model"]["family"] == "qwen2-vl"
    )
    assert "revision" in prov["model"] and prov["model"]["config_sha256"]
    assert prov["model"]["checkpoints"] == [str(tiny_model.resolve())]
    assert prov["preset"] == "default" and prov["config"]["num_frames"] == 4
    assert set(prov["config"]) >= {"lra_steps", "temporal_k", "token_rule", "tas", "layers"}
    assert prov["tubescope"]["version"]
    sha = hashlib.sha256(hcstvg.annotations.read_bytes()).hexdigest()
    assert prov["data"]["annotations"]["sha256"] == sha
    assert (
        prov["data"]["proposals"]["files"] == 4 and len(prov["data"]["proposals"]["sha256"]) == 64
    )
    assert prov["report_utc"].endswith("Z") and prov["created_utc"].endswith("Z")
    assert prov["command"].startswith("tubescope run --dataset hcstvg-v1")
    assert prov["hardware"][0]["torch"] and "cpu" in prov["hardware"][0]
    session = prov["sessions"][0]
    assert session["executor"]["kind"] == "local" and session["queries_processed"] == 5


def test_killed_run_resumes_to_the_same_report(reference, hcstvg, tiny_model, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "tubescope.cli.main", *run_args(hcstvg, tiny_model, out)]
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    predictions = out / "predictions.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if predictions.exists() and predictions.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = predictions.read_bytes().count(b"\n")
    assert 1 <= done < 4
    # a crash in the middle of the next append leaves a torn last line
    with open(predictions, "ab") as handle:
        handle.write(b'{"video_id": "3_clip03", "query_id": "3_clip03", "tube": {"start_fr')
    result = invoke(*run_args(hcstvg, tiny_model, out))
    assert "repaired a torn last line" in result.output
    assert lines(predictions) == lines(reference[0] / "predictions.jsonl")
    assert comparable(out) == comparable(reference[0])
    sessions = report(out)["provenance"]["sessions"]
    assert (
        len(sessions) == 2 and sessions[0]["finished_utc"] is None
    )  # the killed one is kept, unfinished
    assert sessions[1]["queries_processed"] == 5 - done and sessions[1]["repaired_bytes"] > 0


def test_truncated_predictions_resume_to_the_same_file(reference, hcstvg, tiny_model, tmp_path):
    out = tmp_path / "truncated"
    shutil.copytree(reference[0], out)
    (out / ".lock").unlink()
    text = (out / "predictions.jsonl").read_text().splitlines(keepends=True)
    # keep two records and half of the third, as if the run died while writing it
    (out / "predictions.jsonl").write_text("".join(text[:2]) + text[2][: len(text[2]) // 2])
    invoke(*run_args(hcstvg, tiny_model, out))
    assert lines(out / "predictions.jsonl") == lines(reference[0] / "predictions.jsonl")
    # the corrupt video was tried again, an input error that uses no attempt: the same report
    assert comparable(out) == comparable(reference[0])
    assert len((out / "failures.jsonl").read_text().splitlines()) == 2
    assert len(report(out)["provenance"]["sessions"]) == 2


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs (the run uses it instead of starting its own)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_ray_run_gives_identical_predictions_and_report(
    local_ray, reference, hcstvg, tiny_model, tmp_path
):
    out = tmp_path / "ray"
    invoke(*run_args(hcstvg, tiny_model, out, "--ray"))
    assert local_ray.is_initialized()  # an instance the run did not start is left running
    assert lines(out / "predictions.jsonl") == lines(reference[0] / "predictions.jsonl")
    assert comparable(out) == comparable(reference[0])
    executor = report(out)["provenance"]["sessions"][0]["executor"]
    assert executor["kind"] == "ray" and executor["workers"] == 2
    assert executor["actor_resources"] == {"num_gpus": 0, "num_cpus": 1.0}
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["query_id"] for f in failures] == [hcstvg.corrupt]
    assert report(out)["provenance"]["command"].endswith("--ray")


def test_a_ray_worker_that_dies_is_replaced_and_its_video_retried(local_ray, hcstvg, tmp_path):
    model = functools.partial(dying_stub_backend, str(tmp_path / "died-once"))
    result = run_dataset(
        "hcstvg-v1",
        hcstvg.annotations,
        hcstvg.videos,
        tmp_path / "out",
        model=model,
        proposals=hcstvg.proposals,
        decompositions="rules",
        overrides={"num_frames": 4},
        ray=True,
    )
    failures = [json.loads(line) for line in result.failures_path.read_text().splitlines()]
    died = [f for f in failures if f["error_type"] == "WorkerDied"]
    assert len(died) == 1 and died[0]["transient"] and died[0]["attempt"] == 1
    assert died[0]["query_id"] != hcstvg.corrupt
    assert len(result.predictions_path.read_text().splitlines()) == 4  # the lost video was redone
    assert result.report.n_missing == 1 and [f["query_id"] for f in result.failed] == [
        hcstvg.corrupt
    ]
    assert result.summary["provenance"]["sessions"][0]["executor"]["replaced_workers"] == 1
