"""The report of a run: the scores of its queries (a query without a prediction scores 0), its
counts and failures, and its provenance, written as ``report.json``, ``report.txt`` and
``per_query.csv``; plus the one-line failure summary ``tubescope run`` ends with.

Example:
    >>> failed = [{"query_id": "q1", "video_id": "v1", "attempts": 0, "cause": "missing video",
    ...            "input_error": True, "error": "VideoError: videos/v1: no video file for 'v1'"}]
    >>> print(failure_summary(failed, 5))
    1 of 5 queries (1 missing video; input errors use no retries: fix the input and rerun); first failing video: v1 (VideoError: videos/v1: no video file for 'v1')
    >>> failure_lines(failed)
    ["  q1 (input error): VideoError: videos/v1: no video file for 'v1'"]
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tubescope.durable import atomic_write_text
from tubescope.eval.table import results_table
from tubescope.integrations.runs.failures import cause_phrase, uses_attempt
from tubescope.integrations.runs.ledger import FAILURES, PREDICTIONS, RunLedger
from tubescope.integrations.runs.manifest import MANIFEST, Manifest, unique
from tubescope.plural import counted

__all__ = [
    "REPORT",
    "REPORT_TEXT",
    "PER_QUERY",
    "evaluate_run",
    "write_report",
    "failure_causes",
    "failure_summary",
    "failure_lines",
    "failure_heading",
]

REPORT = "report.json"
REPORT_TEXT = "report.txt"
PER_QUERY = "per_query.csv"


def failure_causes(failed: Sequence[dict[str, Any]]) -> str:
    """``"2 missing videos, 1 RuntimeError"``: input causes count videos, others queries."""
    videos: dict[str, set[str]] = {}
    queries: Counter[str] = Counter()
    for entry in failed:
        cause = str(entry.get("cause") or entry.get("error_type"))
        videos.setdefault(cause, set()).add(str(entry.get("video_id")))
        queries[cause] += 1
    input_causes = {str(e.get("cause")) for e in failed if e.get("input_error")}
    return ", ".join(
        cause_phrase(cause, len(videos[cause]) if cause in input_causes else queries[cause])
        for cause in videos
    )


def failure_summary(failed: Sequence[dict[str, Any]], n_queries: int) -> str | None:
    """One line: how many queries failed, their causes, the first failing video (None: none)."""
    if not failed:
        return None
    hint = (
        "; input errors use no retries: fix the input and rerun"
        if any(entry.get("input_error") for entry in failed)
        else ""
    )
    first = failed[0]
    return (
        f"{len(failed)} of {counted(n_queries, 'query', 'queries')} "
        f"({failure_causes(failed)}{hint}); "
        f"first failing video: {first.get('video_id')} ({first.get('error')})"
    )


def failure_lines(failed: Sequence[dict[str, Any]], limit: int | None = None) -> list[str]:
    """``"  QUERY (2 attempts): ERROR"`` per failed query (the first ``limit``)."""
    lines = []
    for entry in list(failed)[:limit]:
        if entry.get("input_error"):
            how = "input error"
        else:
            how = counted(int(entry.get("attempts") or 0), "attempt", "attempts")
        lines.append(f"  {entry['query_id']} ({how}): {entry.get('error')}")
    return lines


def failure_heading(count: int) -> str:
    """``"1 query failed and scores 0"`` / ``"2 queries failed and score 0"``."""
    return f"{counted(count, 'query', 'queries')} failed and score{'s' if count == 1 else ''} 0"


def evaluate_run(
    out_dir: Path, selected: Sequence[Any], dataset: str, protocol: str, ledger: RunLedger
) -> tuple[Any, dict[str, Any]]:
    """Score the selection's predictions; ``(Report, run counts and failures)``."""
    from tubescope.eval import evaluate, read_predictions

    predictions_path = out_dir / PREDICTIONS
    wanted = {q.query_id for q in selected}
    loaded = read_predictions(predictions_path, "jsonl") if predictions_path.stat().st_size else []
    mine = [p for p in loaded if p.query_id in wanted]
    report = evaluate(selected, mine, dataset=dataset, protocol=protocol)
    failed, not_run = [], []
    for query in selected:
        if query.query_id in ledger.done:
            continue
        record = ledger.last_error.get(query.query_id)
        if record is None:
            not_run.append(query.query_id)
            continue
        failed.append(
            {
                "query_id": query.query_id,
                "video_id": query.video_id,
                "attempts": int(ledger.attempts[query.query_id]),
                "error_type": record.get("error_type"),
                "error": record.get("error"),
                "cause": record.get("cause") or record.get("error_type"),
                "input_error": not uses_attempt(record),
            }
        )
    run_info = {
        "n_queries": len(selected),
        "n_predicted": len(selected) - len(failed) - len(not_run),
        "n_failed": len(failed),
        "n_not_run": len(not_run),
        "n_extra_predictions": len(loaded) - len(mine),
        "failed": failed,
        "not_run": not_run[:100],
    }
    return report, run_info


def write_report(
    out_dir: Path,
    report: Any,
    run_info: dict[str, Any],
    manifest: Manifest,
    *,
    dataset: str,
    protocol: str,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Write ``report.json``, ``per_query.csv`` and ``report.txt``; returns the report JSON.

    ``settings``: the run's ``limit``, ``shard`` and ``retries`` (recorded in ``run``).
    """
    from tubescope.integrations.runs.provenance import tubescope_info, utc_now
    from tubescope.integrations.runs.store import write_json_atomic
    from tubescope.types.schema import SCHEMA_VERSION

    run = {
        **run_info,
        **settings,
        "files": {
            "predictions": PREDICTIONS,
            "failures": FAILURES,
            "manifest": MANIFEST,
            "per_query": PER_QUERY,
        },
    }
    data = manifest.data
    sessions = manifest.sessions
    checkpoints = [c for s in sessions for c in s.get("checkpoints", [])]
    resolved = data.get("resolved") or {}
    provenance = {
        "tubescope": tubescope_info(),
        "report_utc": utc_now(),
        "created_utc": data.get("created_utc"),
        "dataset": data.get("dataset"),
        "model": {
            **(resolved.get("model") or {"id": data.get("model")}),
            "checkpoints": sorted({str(c) for c in checkpoints if c}),
        },
        "preset": data.get("preset"),
        "config": resolved.get("config"),
        "proposals": data.get("proposals"),
        "decompositions": data.get("decompositions"),
        "query_transform": data.get("query_transform"),
        "data": data.get("data"),
        "command": sessions[-1].get("command") if sessions else None,
        "hardware": unique([h for s in sessions for h in s.get("hardware", [])]),
        "sessions": sessions,
    }
    summary = {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset,
        "protocol": protocol,
        "metrics": report.to_dict(),
        "run": run,
        "provenance": provenance,
    }
    write_json_atomic(out_dir / REPORT, summary)
    report.to_csv(out_dir / PER_QUERY)
    atomic_write_text(out_dir / REPORT_TEXT, _render_text(report, dataset, protocol, run))
    return summary


def _render_text(report: Any, dataset: str, protocol: str, run: dict[str, Any]) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=100, no_color=True, color_system=None)
    console.print(results_table(report, dataset, protocol))
    if run["n_failed"]:
        console.print(f"{failure_heading(run['n_failed'])}:")
        for line in failure_lines(run["failed"]):
            console.print(line, markup=False)
    return buffer.getvalue()
