"""Dataset-run plumbing with the planted stub backend: jobs, shards, video lookup, resume, retry
bounds, failure isolation, manifest checks, the lock and the torn-line repair."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tubescope.cli.main import cli
from tubescope.errors import PredictionError, TubescopeError
from tubescope.eval import load_annotations
from tubescope.integrations.runs import (
    JsonlLog,
    RunError,
    parse_shard,
    plan_jobs,
    run_dataset,
    select_queries,
)
from tubescope.integrations.runs.store import run_lock
from tubescope.types import SubQueries

from tests.engine.stub_backend import StubBackend
from tests.integrations.runs.helpers import write_vidstg

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SMALL = {"num_frames": 4}


class SpyBackend(StubBackend):
    """Records the frame indices of every encode; the first ``fail_encodes`` encodes fail."""

    def __init__(self, fail_encodes: int = 0) -> None:
        super().__init__(4, 4, 4)
        self.seen: list[list[int]] = []
        self.fail_encodes = fail_encodes

    def encode(self, frames, frame_indices=None):
        if self.fail_encodes:
            self.fail_encodes -= 1
            raise RuntimeError("CUDA out of memory (simulated)")
        self.seen.append([int(i) for i in frame_indices])
        return super().encode(frames, frame_indices)


def stub_run(ds, out, backend=None, **kwargs):
    kwargs.setdefault("decompositions", "rules")
    kwargs.setdefault("overrides", SMALL)
    kwargs.setdefault("proposals", ds.proposals)
    dataset = kwargs.pop("dataset", "hcstvg-v1")
    return run_dataset(
        dataset, ds.annotations, ds.videos, out, model=backend or SpyBackend(), **kwargs
    )


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------------------- planning
def test_shards_split_videos_disjointly_and_deterministically(hcstvg):
    queries = load_annotations(hcstvg.annotations, "hcstvg-v1")
    shards = [select_queries(queries, shard=parse_shard(f"{i}/3")) for i in range(3)]
    ids = [q.query_id for shard in shards for q in shard]
    assert sorted(ids) == sorted(q.query_id for q in queries) and len(ids) == len(set(ids))
    assert [[q.query_id for q in s] for s in shards] == [
        [q.query_id for q in select_queries(list(reversed(queries)), shard=(i, 3))][::-1]
        for i in range(3)
    ]
    assert [q.query_id for q in select_queries(queries, limit=2)] == [
        q.query_id for q in queries[:2]
    ]
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(RunError):
            parse_shard(bad)


def test_vidstg_jobs_group_by_video_and_segment_and_sample_inside_it(tmp_path):
    ds = write_vidstg(tmp_path)
    queries = load_annotations(ds.annotations, "vidstg")
    jobs = plan_jobs(queries)
    assert [(j.video_id, j.query_ids, j.segment) for j in jobs] == [
        (ds.video_ids[0], ("0", "1"), (0, 39)),
        (ds.video_ids[0], ("2",), (5, 30)),
        (ds.video_ids[1], ("3",), (0, 39)),
    ]
    backend = SpyBackend()
    result = stub_run(ds, tmp_path / "out", backend, dataset="vidstg")
    assert backend.seen == [
        [0, 13, 26, 39],
        [5, 13, 21, 30],
        [0, 13, 26, 39],
    ]  # one encoding per job
    assert sorted(r["query_id"] for r in records(result.predictions_path)) == ["0", "1", "2", "3"]
    assert set(result.summary["metrics"]) >= {"declarative", "interrogative"}


# ------------------------------------------------------------------------------- the log
def test_jsonl_log_repairs_a_torn_tail_but_refuses_a_damaged_middle(tmp_path):
    path = tmp_path / "p.jsonl"
    with JsonlLog.open(path) as log:
        log.append({"query_id": "a", "tube": None})
        log.append({"query_id": "b", "tube": None})
    with open(path, "ab") as handle:
        handle.write(b'{"query_id": "c", "tu')
    with JsonlLog.open(path) as log:
        assert [r["query_id"] for r in log.records] == ["a", "b"] and log.repaired == 21
        log.append({"query_id": "c", "tube": None})
    assert path.read_text().count("\n") == 3 and path.read_text().endswith('"tube": null}\n')
    path.write_text('{"query_id": "a"}\nnot json\n{"query_id": "b"}\n')
    with pytest.raises(RunError, match="line 2 is not valid JSON"):
        JsonlLog.open(path)


# ------------------------------------------------------------------------------- runs
def test_transient_error_is_retried_within_the_run(hcstvg, tmp_path):
    result = stub_run(hcstvg, tmp_path / "out", SpyBackend(fail_encodes=1), limit=1)
    failures = records(result.failures_path)
    assert [(f["attempt"], f["transient"], f["error_type"]) for f in failures] == [
        (1, True, "RuntimeError")
    ]
    assert "CUDA out of memory" in failures[0]["error"] and "Traceback" in failures[0]["traceback"]
    assert len(records(result.predictions_path)) == 1 and result.summary["run"]["n_failed"] == 0


def test_input_errors_are_tried_by_every_run_and_use_no_attempts(hcstvg, tmp_path):
    out = tmp_path / "out"
    attempts = []
    for retries in (0, 0, 1):
        result = stub_run(hcstvg, out, retries=retries)
        attempts.append([f["attempt"] for f in records(result.failures_path)])
        assert result.report.n_missing == 1 and result.failed[0]["cause"] == "unreadable video"
    assert attempts == [[None], [None, None], [None, None, None]]
    assert result.processed == 1 and result.summary["run"]["failed"][0]["attempts"] == 0
    sessions = result.summary["provenance"]["sessions"]
    # only the corrupt video was left: found before loading, so no model was loaded for it
    assert [s["executor"] is None for s in sessions] == [False, True, True]
    assert [s["input_failures"] for s in sessions] == [1, 1, 1]


def test_one_failing_query_does_not_sink_the_others_of_its_video(tmp_path):
    ds = write_vidstg(tmp_path)
    texts = {q.query_id: q.query for q in load_annotations(ds.annotations, "vidstg")}

    class Picky:
        name = "picky"

        def decompose(self, query, video_id=None):
            if query == texts["1"]:
                raise RuntimeError("decomposer crashed")
            return SubQueries("the target", "the target moves", False, self.name)

    result = stub_run(ds, tmp_path / "out", dataset="vidstg", decompositions=Picky(), retries=1)
    assert sorted(r["query_id"] for r in records(result.predictions_path)) == ["0", "2", "3"]
    assert [(f["query_id"], f["attempt"]) for f in records(result.failures_path)] == [
        ("1", 1),
        ("1", 2),
    ]
    assert [f["query_id"] for f in result.failed] == ["1"] and result.report.n_missing == 1


def test_resume_skips_finished_queries_and_limit_changes_are_reported(hcstvg, tmp_path):
    out = tmp_path / "out"
    first = stub_run(hcstvg, out, limit=2)
    assert first.processed == 2 and first.report.n_queries == 2
    smaller = stub_run(hcstvg, out, limit=1)
    assert smaller.processed == 0 and smaller.summary["run"]["n_extra_predictions"] == 1
    backend = SpyBackend()
    full = stub_run(hcstvg, out, backend)
    assert (
        full.processed == 3 and len(backend.seen) == 2
    )  # two good videos left, and the corrupt one
    assert full.report.n_queries == 5 and full.report.n_missing == 1
    assert len(records(full.predictions_path)) == 4
    sessions = full.summary["provenance"]["sessions"]
    assert [s["queries_processed"] for s in sessions] == [2, 0, 3]


def test_resuming_with_other_settings_is_refused(hcstvg, tmp_path):
    out = tmp_path / "out"
    stub_run(hcstvg, out, limit=1)
    with pytest.raises(RunError, match="preset='default' \\(now 'paper'\\)"):
        stub_run(hcstvg, out, preset="paper")
    with pytest.raises(RunError, match="settings.num_frames"):
        stub_run(hcstvg, out, overrides={"num_frames": 8})
    with pytest.raises(RunError, match="decompositions"):
        stub_run(hcstvg, out, decompositions="mllm")
    with pytest.raises(RunError, match="unknown|unexpected"):
        stub_run(hcstvg, tmp_path / "other", overrides={"no_such_field": 1})


def test_a_second_run_on_the_same_out_is_locked_out(hcstvg, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with run_lock(out), pytest.raises(RunError, match="another tubescope run"):
        stub_run(hcstvg, out, limit=1)


def test_duplicate_predictions_are_an_error_not_silently_merged(hcstvg, tmp_path):
    out = tmp_path / "out"
    result = stub_run(hcstvg, out, limit=1)
    line = result.predictions_path.read_text()
    result.predictions_path.write_text(line + line)
    with pytest.raises(RunError, match="two predictions"):
        stub_run(hcstvg, out, limit=1)


def test_ray_missing_says_how_to_install_it(hcstvg, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RunError, match=r"pip install 'tubescope\[ray\]'"):
        stub_run(hcstvg, tmp_path / "out", limit=1, ray=True)


def test_cli_errors_are_one_line_with_exit_code_2(hcstvg, tmp_path):
    base = [
        "run",
        "--dataset",
        "hcstvg-v1",
        "--annotations",
        str(hcstvg.annotations),
        "--videos",
        str(hcstvg.videos),
        "--model",
        "nowhere/model",
        "--out",
        str(tmp_path / "o"),
    ]
    for extra, expected in (
        (["--shard", "5/2"], "error: --shard 5/2: need 0 <= i < n"),
        (["--set", "frames"], "KEY=VALUE"),
        (["--proposals", str(tmp_path / "missing")], "error: --proposals"),
    ):
        result = CliRunner().invoke(cli, base + extra)
        assert result.exit_code == 2, result.output
        assert expected in result.output


def test_prediction_rows_carry_the_schema_version_and_the_evaluator_reads_them(tmp_path):
    from tubescope.eval.predictions import read_predictions
    from tubescope.integrations.runs import ledger
    from tubescope.types.schema import SCHEMA_VERSION

    row = ledger.prediction_row("v", "q", None)
    assert row == {"schema_version": SCHEMA_VERSION, "video_id": "v", "query_id": "q", "tube": None}
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (prediction,) = read_predictions(path)
    assert prediction.query_id == "q"
    path.write_text(json.dumps({**row, "schema_version": 99}) + "\n")
    with pytest.raises(PredictionError, match="schema_version.*newer tubescope"):
        read_predictions(path)


def test_predictions_from_a_newer_tubescope_are_refused_on_resume(hcstvg, tmp_path):
    out = tmp_path / "out"
    result = stub_run(hcstvg, out, limit=1)
    row = json.loads(result.predictions_path.read_text())
    result.predictions_path.write_text(json.dumps({**row, "schema_version": 99}) + "\n")
    with pytest.raises(TubescopeError, match="newer tubescope"):
        stub_run(hcstvg, out, limit=1)
