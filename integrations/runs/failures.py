"""Failure records of a dataset run: what failed, why, and whether it used up an attempt.

A record (one line of ``failures.jsonl``) holds ``video_id``, ``query_id``, ``attempt``,
``error_type``, ``error`` (one line), ``cause``, ``input_error``, ``transient``, ``traceback``,
``worker`` (and ``time_utc``, added by the driver).

* **Input errors** (``input_error: true``): a missing or unreadable video, a video with fewer
  frames than are sampled, a bad annotation, missing or unusable proposals. Rerunning cannot fix
  them, fixing the input does: they are recorded but **use no attempt** (``attempt: null``), so
  the query is tried again by every later run on the same ``--out``. Most are found before the
  model loads (:mod:`~tubescope.integrations.runs.inputs`).
* **Other errors** use one attempt each (``attempt`` counts them); a *transient* one (not a
  :class:`~tubescope.errors.TubescopeError`: out of memory, a dead worker) is retried at once
  while attempts are left.

Example:
    >>> from tubescope.errors import VideoError
    >>> record = failure_record("v", "q", VideoError("v.mp4", "no such file"), attempt=1)
    >>> record["cause"], record["input_error"], record["attempt"], uses_attempt(record)
    ('unusable video', True, None, False)
    >>> uses_attempt(failure_record("v", "q", RuntimeError("CUDA out of memory"), attempt=1))
    True
"""

from __future__ import annotations

from typing import Any

from tubescope.errors import AnnotationError, ProposalError, TubescopeError, VideoError
from tubescope.plural import counted

__all__ = [
    "INPUT_ERRORS",
    "WorkerDied",
    "error_text",
    "failure_record",
    "uses_attempt",
    "cause_phrase",
]

#: errors about the run's input data: recorded, never counted as attempts.
INPUT_ERRORS: tuple[type[BaseException], ...] = (VideoError, AnnotationError, ProposalError)

_TRACEBACK_CHARS = 4000

# cause -> (singular, plural) as counted in summaries ("2 missing videos")
_CAUSES = {
    "missing video": ("missing video", "missing videos"),
    "unreadable video": ("unreadable video", "unreadable videos"),
    "unusable video": ("unusable video", "unusable videos"),
    "video too short": ("video too short", "videos too short"),
    "bad annotation": ("bad annotation", "bad annotations"),
    "missing proposals": ("video without proposals", "videos without proposals"),
    "bad proposals": ("video with unusable proposals", "videos with unusable proposals"),
}
# the cause of an input error met while grounding (the checks before loading name theirs)
_DEFAULT_CAUSE = {
    VideoError: "unusable video",
    AnnotationError: "bad annotation",
    ProposalError: "bad proposals",
}


class WorkerDied(Exception):
    """A Ray worker died while grounding a video (out of host memory, node lost)."""


def error_text(err: BaseException) -> str:
    """``"ErrorType: first line of the message"``."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def _cause_of(err: BaseException) -> str:
    for kind, cause in _DEFAULT_CAUSE.items():
        if isinstance(err, kind):
            return cause
    return type(err).__name__


def failure_record(
    video_id: str,
    query_id: str,
    err: BaseException,
    *,
    attempt: int,
    cause: str | None = None,
    trace: str = "",
    worker: str | None = None,
) -> dict[str, Any]:
    """The record of one failed attempt (``attempt``: its number if it counts as one)."""
    input_error = isinstance(err, INPUT_ERRORS)
    return {
        "type": "failure",
        "video_id": video_id,
        "query_id": query_id,
        "attempt": None if input_error else int(attempt),
        "error_type": type(err).__name__,
        "error": error_text(err),
        "cause": cause or _cause_of(err),
        "input_error": input_error,
        "transient": not isinstance(err, TubescopeError),
        "traceback": trace[-_TRACEBACK_CHARS:],
        "worker": worker,
    }


def uses_attempt(record: dict[str, Any]) -> bool:
    """Whether a failure record counts against the query's attempts.

    Records written before input errors were told apart have no ``input_error``: their
    ``error_type`` decides.
    """
    if "input_error" in record:
        return not record["input_error"]
    return record.get("error_type") not in {kind.__name__ for kind in INPUT_ERRORS}


def cause_phrase(cause: str, count: int) -> str:
    """``"1 missing video"``, ``"2 missing videos"``, ``"3 RuntimeError"``."""
    singular, plural = _CAUSES.get(cause, (cause, cause))
    return counted(count, singular, plural)
