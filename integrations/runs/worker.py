"""The worker of a dataset run: one model, one :class:`~tubescope.Grounder`, many videos.

The same :class:`Worker` runs in the driver process (single machine) and inside every Ray actor,
so both paths ground, retry and report failures identically. A worker never writes files: it
returns plain JSON-able records and the driver appends them to the run's logs.

Records returned by :meth:`Worker.process`:

* ``{"type": "prediction", "video_id", "query_id", "tube": <Tube JSON> | null}``
* ``{"type": "failure", ...}``: a failure record
  (:func:`~tubescope.integrations.runs.failures.failure_record`)

Retries inside a job: an attempt that fails with a *transient* error (anything that is not a
:class:`~tubescope.errors.TubescopeError`: CUDA out-of-memory, a runtime error, an I/O hiccup)
is retried at once while the query has attempts left. Any other error would fail the same way
again, so it is recorded once per run. An *input* error (a corrupt video, unusable proposals,
a bad annotation: :data:`~tubescope.integrations.runs.failures.INPUT_ERRORS`) uses no attempt:
a later run on the same ``--out`` tries the query again, whatever its retries
(:mod:`~tubescope.integrations.runs.failures`). Most input errors are found before the model
loads (:mod:`~tubescope.integrations.runs.inputs`); the worker records those it meets itself.

When ``ground_many`` fails on a video with several queries for a reason other than the video
or its proposals, each query is retried alone in the same attempt, so one bad query cannot sink its
siblings (costs one encoding per query, only on that path).
"""

from __future__ import annotations

import json
import os
import socket
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tubescope.errors import TubescopeError
from tubescope.integrations.runs.failures import INPUT_ERRORS, failure_record
from tubescope.integrations.runs.plan import VideoJob, open_video, video_files

__all__ = ["WorkerSpec", "Worker", "model_description"]


@dataclass
class WorkerSpec:
    """Everything a worker needs to build its grounder (picklable: Ray ships it to actors).

    Attributes:
        model: a model id / checkpoint directory, a ready backend, or a zero-argument callable
            returning one (use an id or a callable with Ray: each actor builds its own).
        dataset: ``"hcstvg-v1"``, ``"hcstvg-v2"`` or ``"vidstg"`` (selects the paper window).
        preset: ``"default"`` or ``"paper"``.
        videos: the videos directory (laid out as the dataset table says, :func:`~tubescope.integrations.runs.plan.video_files`).
        proposals: a proposal spec string (``"precomputed:DIR"``, ``"attention"``, ...), a
            proposal source object, or None (the grounder's default).
        decomposer: ``"rules"``, ``"mllm"``, a decomposition JSON path, a decomposer, or None.
        config: a full ``GrounderConfig`` (wins over ``preset`` and ``overrides``).
        overrides: ``GrounderConfig`` fields to change in the preset (``{"num_frames": 8}``).
        device, dtype: where to load a model given by id (``"auto"``: CUDA bf16 when available).
        decomposition_cache: a file that keeps the MLLM decomposer's answers per query text
            (``OUT/decompositions.json``), or None.
    """

    model: Any
    dataset: str
    preset: str
    videos: str
    proposals: Any = None
    decomposer: Any = None
    config: Any = None
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    dtype: str = "auto"
    decomposition_cache: str | None = None


def _is_backend(obj: Any) -> bool:
    from tubescope.engine.backends.base import Backend

    return isinstance(obj, Backend)


def model_description(backend: Any, model_arg: Any) -> dict[str, Any]:
    """Model provenance: id, family, revision (hub commit), checkpoint path and config hash."""
    import hashlib
    import re
    from pathlib import Path

    model = getattr(backend, "model", None)
    config = getattr(model, "config", None)
    name_or_path = getattr(config, "_name_or_path", None) or None
    revision = getattr(config, "_commit_hash", None) or None
    config_sha256 = None
    if name_or_path and Path(str(name_or_path)).is_dir():
        folder = Path(str(name_or_path))
        if (
            revision is None
            and re.fullmatch(r"[0-9a-f]{40}", folder.name)
            and folder.parent.name == "snapshots"
        ):
            revision = folder.name  # a Hugging Face cache snapshot is named after its commit
        config_file = folder / "config.json"
        if config_file.is_file():
            config_sha256 = hashlib.sha256(config_file.read_bytes()).hexdigest()
    given = os.fspath(model_arg) if isinstance(model_arg, (str, os.PathLike)) else None
    return {
        "id": given or getattr(backend, "model_id", None),
        "family": getattr(backend, "family", None),
        "revision": revision,
        "checkpoint": str(name_or_path) if name_or_path else None,
        "config_sha256": config_sha256,
        "backend": f"{type(backend).__module__}.{type(backend).__qualname__}",
    }


class Worker:
    """Loads the model once and grounds :class:`VideoJob` s (see the module docstring)."""

    def __init__(self, spec: WorkerSpec) -> None:
        from tubescope.engine.config import preset as make_preset
        from tubescope.grounder import Grounder

        self.spec = spec
        model = spec.model
        if not isinstance(model, (str, os.PathLike)) and not _is_backend(model) and callable(model):
            model = model()
        if spec.config is not None:
            config = spec.config
        else:
            if isinstance(model, (str, os.PathLike)):
                from tubescope.engine.backends import detect_family

                family = detect_family(model)
            else:
                family = getattr(model, "family", None)
            config = make_preset(spec.preset, family, dataset=spec.dataset)
            if spec.overrides:
                config = config.replace(**spec.overrides)
        self.grounder = Grounder(
            model,
            proposals=spec.proposals,
            decomposer=spec.decomposer,
            config=config,
            device=spec.device,
            dtype=spec.dtype,
        )
        if spec.decomposition_cache is not None:
            from tubescope.decompose import DecompositionCache, MLLMDecomposer

            if isinstance(self.grounder.decomposer, MLLMDecomposer):  # slow: decompose once
                self.grounder.decomposer = DecompositionCache(
                    self.grounder.decomposer, spec.decomposition_cache
                )
        self.resolver = video_files(spec.dataset, spec.videos)
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    # ------------------------------------------------------------------ info
    def describe(self) -> dict[str, Any]:
        """Model, resolved config and hardware of this worker (for the manifest/provenance)."""
        from tubescope.integrations.runs.provenance import hardware

        return {
            "model": model_description(self.grounder.backend, self.spec.model),
            "config": self.grounder.config.to_dict(),
            "proposals": getattr(self.grounder.proposals, "name", None),
            "decomposer": getattr(
                self.grounder.decomposer, "name", type(self.grounder.decomposer).__name__
            ),
            "hardware": hardware(),
            "worker": self.name,
        }

    # ------------------------------------------------------------------ work
    def process(
        self, job: VideoJob, past_failures: Mapping[str, int], max_attempts: int
    ) -> list[dict[str, Any]]:
        """Ground ``job``'s queries, retrying transient failures; returns the records."""
        attempts = {qid: int(past_failures.get(qid, 0)) for qid in job.query_ids}
        todo = [qid for qid in job.query_ids if attempts[qid] < max_attempts]
        records: list[dict[str, Any]] = []
        while todo:
            outcomes = self._attempt(job.subset(todo))
            retry = []
            for qid in todo:
                ok, value = outcomes[qid]
                if ok:
                    records.append(
                        {
                            "type": "prediction",
                            "video_id": job.video_id,
                            "query_id": qid,
                            "tube": value,
                        }
                    )
                    continue
                err, trace = value
                if not isinstance(err, INPUT_ERRORS):
                    attempts[qid] += 1
                records.append(
                    failure_record(
                        job.video_id, qid, err, attempt=attempts[qid], trace=trace, worker=self.name
                    )
                )
                if not isinstance(err, TubescopeError) and attempts[qid] < max_attempts:
                    retry.append(qid)
            todo = retry
            if todo:
                _free_accelerator_memory()
        return records

    def _attempt(self, job: VideoJob) -> dict[str, tuple[bool, Any]]:
        try:
            video = open_video(self.resolver.resolve(job.video_id))
            span = job.span(video.frame_count)
        except Exception as err:  # noqa: BLE001 - every failure is recorded, never raised
            failure = (False, (err, traceback.format_exc()))
            return dict.fromkeys(job.query_ids, failure)
        try:
            results = self.grounder.ground_many(video, list(job.queries), span=span)
            return {qid: _tube_json(r) for qid, r in zip(job.query_ids, results)}
        except Exception as err:  # noqa: BLE001
            failure = (False, (err, traceback.format_exc()))
            if isinstance(err, INPUT_ERRORS) or len(job.query_ids) == 1:
                return dict.fromkeys(job.query_ids, failure)
        outcomes: dict[str, tuple[bool, Any]] = {}
        for qid, text in zip(job.query_ids, job.queries):
            try:
                outcomes[qid] = _tube_json(self.grounder.ground(video, text, span=span))
            except Exception as err:  # noqa: BLE001
                outcomes[qid] = (False, (err, traceback.format_exc()))
        return outcomes


def _tube_json(result: Any) -> tuple[bool, Any]:
    """(True, tube JSON) — checked to be strict JSON here, so the driver's write cannot fail."""
    tube = None if result.tube is None else result.tube.to_dict()
    try:
        json.dumps(tube, allow_nan=False)
    except ValueError as err:
        return False, (
            ValueError(f"the predicted tube is not finite JSON ({err})"),
            traceback.format_exc(),
        )
    return True, tube


def _free_accelerator_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass


def build_worker(spec: WorkerSpec) -> Worker:
    """A :class:`Worker` for ``spec`` (the factory the executors use)."""
    return Worker(spec)


WorkerFactory = Callable[[WorkerSpec], Worker]
