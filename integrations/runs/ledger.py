"""The two logs of a run's ``--out`` as one object: what is finished, what failed, how often.

``predictions.jsonl`` holds one row per finished query, exactly what ``tubescope eval`` reads
(``{"video_id", "query_id", "tube"}``, plus ``schema_version``, see :func:`prediction_row`);
``failures.jsonl`` one record per failure (:mod:`~tubescope.integrations.runs.failures`).
Both are append-only, written one durable line at a time (:mod:`~tubescope.integrations.runs.store`).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from tubescope.errors import VideoError
    >>> from tubescope.integrations.runs import VideoJob
    >>> from tubescope.integrations.runs.failures import failure_record
    >>> ledger = RunLedger.open(Path(tempfile.mkdtemp()))
    >>> jobs = [VideoJob("v1", ("q1",), ("a dog",)), VideoJob("v2", ("q2",), ("a cat",))]
    >>> ledger.add({"type": "prediction", "video_id": "v1", "query_id": "q1", "tube": None}, 3)
    (True, False)
    >>> ledger.add(failure_record("v2", "q2", VideoError("v2.mp4", "no such file"), attempt=1), 3)
    (True, True)
    >>> [job.query_ids for job in ledger.pending(jobs, max_attempts=3)]  # input errors use no attempt
    [('q2',)]
    >>> ledger.close()
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tubescope.integrations.runs.failures import uses_attempt
from tubescope.integrations.runs.plan import RunError, VideoJob
from tubescope.integrations.runs.store import JsonlLog

__all__ = ["RunLedger", "prediction_row", "PREDICTIONS", "FAILURES"]

PREDICTIONS = "predictions.jsonl"
FAILURES = "failures.jsonl"


def prediction_row(video_id: str, query_id: str, tube: Any) -> dict[str, Any]:
    """One line of ``predictions.jsonl`` (``tube``: Tube JSON, or None for no answer)."""
    from tubescope.types.schema import SCHEMA_VERSION

    return {"schema_version": SCHEMA_VERSION, "video_id": video_id, "query_id": query_id, "tube": tube}


class RunLedger:
    """``predictions.jsonl`` and ``failures.jsonl`` of one ``--out``, opened for appending.

    Attributes:
        done: query ids with a prediction. attempts: attempts used per query (input errors
        use none). last_error: the last failure record per query. repaired: bytes of torn
        last lines cut off when opening (a crash in the middle of a write).
    """

    def __init__(self, predictions: JsonlLog, failures: JsonlLog) -> None:
        self.predictions = predictions
        self.failures = failures
        self.done = _finished(predictions.records, predictions.path)
        self.attempts: Counter[str] = Counter(
            str(r.get("query_id")) for r in failures.records if uses_attempt(r)
        )
        self.last_error = {str(r.get("query_id")): r for r in failures.records}
        self.repaired = predictions.repaired + failures.repaired

    @classmethod
    def open(cls, out_dir: Path) -> RunLedger:
        """Open (creating) both logs in ``out_dir``, repairing torn last lines."""
        predictions = JsonlLog.open(out_dir / PREDICTIONS)
        try:
            failures = JsonlLog.open(out_dir / FAILURES)
        except BaseException:
            predictions.close()
            raise
        return cls(predictions, failures)

    def pending(self, jobs: Sequence[VideoJob], max_attempts: int) -> list[VideoJob]:
        """The jobs (with only their unfinished queries) that still have attempts left."""
        pending = []
        for job in jobs:
            todo = [
                q for q in job.query_ids if q not in self.done and self.attempts[q] < max_attempts
            ]
            if todo:
                pending.append(job.subset(todo))
        return pending

    def add(self, record: dict[str, Any], max_attempts: int) -> tuple[bool, bool]:
        """Append a worker record; ``(final, failed)``: whether the query is settled for this
        run, and whether it settled as a failure."""
        from tubescope.integrations.runs.provenance import utc_now

        qid = str(record["query_id"])
        if record["type"] == "prediction":
            if qid in self.done:
                return False, False  # cannot happen with one writer; never write twice
            self.predictions.append(prediction_row(record["video_id"], qid, record["tube"]))
            self.done.add(qid)
            return True, False
        entry = {k: v for k, v in record.items() if k != "type"}
        entry["time_utc"] = utc_now()
        self.failures.append(entry)
        self.last_error[qid] = entry
        if not uses_attempt(entry):
            return True, True
        self.attempts[qid] += 1
        final = not entry.get("transient") or self.attempts[qid] >= max_attempts
        return final, final

    def close(self) -> None:
        self.predictions.close()
        self.failures.close()


def _finished(records: list[dict[str, Any]], path: Path) -> set[str]:
    from tubescope.types.schema import check_schema_version

    done: set[str] = set()
    for number, record in enumerate(records, start=1):
        check_schema_version(record, f"{path}, record {number}")
        qid = record.get("query_id")
        if qid is None or "tube" not in record:
            raise RunError(
                f"{path}: record {number} has no query_id/tube; not a run predictions file"
            )
        if str(qid) in done:
            raise RunError(f"{path}: query {qid!r} has two predictions (two runs wrote this file?)")
        done.add(str(qid))
    return done
