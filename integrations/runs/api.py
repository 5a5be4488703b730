"""``run_dataset()``: ground a whole benchmark split, resumably, then evaluate it.

Files in ``out`` (all next to each other):

===================  ========================================================================
``predictions.jsonl``  one line per finished query, exactly the evaluator's JSONL
                       (``{"video_id", "query_id", "tube"}``; ``tube`` null = no answer)
``failures.jsonl``     one line per failure: ``query_id``, ``video_id``, ``attempt``,
                       ``error_type``, ``error`` (one line), ``cause``, ``input_error``,
                       ``transient``, ``traceback``, ``worker``, ``time_utc``
``run.json``           the manifest: what produced the predictions (model, revision, resolved
                       config, data hashes) and one entry per session (start/end, command,
                       executor, hardware, counts)
``report.json``        ``{"schema_version", "dataset", "protocol", "metrics": Report.to_dict(),
                       "run": {...}, "provenance": {...}}``
``report.txt``         the results table as printed
``per_query.csv``      per-query tIoU / vIoU (``Report.to_csv``)
===================  ========================================================================

One session of a run is a sequence of named steps (:class:`DatasetRun`): **plan** (arguments,
annotations, the queries of this ``limit``/``shard``, their per-video jobs), **check inputs**
(videos found, readable, long enough; proposal files; before any model is loaded,
:mod:`~tubescope.integrations.runs.inputs`), **load the model** (once per worker), **ground**
(with retries), **write** (every record appended durably as it arrives, the manifest), and
**evaluate** / **report**.

Resume and retry semantics:

* a query with a line in ``predictions.jsonl`` is finished and never grounded again;
* a query is attempted at most ``retries + 1`` times in total, counting every attempt recorded in
  ``failures.jsonl`` by earlier runs on the same ``out``; transient errors are retried at once
  within a run, other errors once per run; a later run with a larger ``retries`` gives failed
  queries more attempts;
* **input errors** (a missing or unreadable video, too few frames, a bad annotation, missing or
  unusable proposals) are recorded but use no attempt: every run tries those queries again, so
  a rerun after fixing ``--videos`` grounds them (:mod:`~tubescope.integrations.runs.failures`).
  When not one video of the run is under ``videos``, or (on a new ``out``) not one can be used,
  the run stops with a :class:`RunError` before loading the model and records nothing;
* a query that ends without a prediction is **scored 0 as a missing prediction** and listed in
  ``report.json["run"]["failed"]`` with its last error and cause;
* an interrupted run (Ctrl-C, kill -9, power loss) loses at most the video in progress: rerun the
  same command; a torn last line is repaired (:mod:`~tubescope.integrations.runs.store`);
* resuming with a different model, model revision, resolved config, preset, proposals,
  decompositions or annotation file is refused (it would mix two experiments in one file); use a
  new ``out``. ``--limit``, ``--shard``, ``--retries``, ``--protocol``, ``--ray`` and
  ``--videos`` may change (:mod:`~tubescope.integrations.runs.manifest`).

Example (tiny random model: the numbers are meaningless, the plumbing is real):
    >>> import json, os, tempfile
    >>> from tubescope.synthetic import make_clip
    >>> from tubescope.testing import save_tiny_model
    >>> from tubescope.integrations.runs import run_dataset
    >>> work = tempfile.mkdtemp()
    >>> os.makedirs(f"{work}/videos")
    >>> clip = make_clip(f"{work}/videos/v0.mp4", width=112, height=112, num_frames=40, fps=2)
    >>> target = clip.objects[0].tube
    >>> boxes = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in target.boxes.tolist()]
    >>> gt = {"v0.mp4": {"img_num": 40, "width": 112, "height": 112,
    ...                  "st_frame": target.start_frame + 1,
    ...                  "bbox": boxes, "caption": clip.objects[0].description}}
    >>> with open(f"{work}/test.json", "w") as f:
    ...     json.dump(gt, f)
    >>> result = run_dataset("hcstvg-v1", f"{work}/test.json", f"{work}/videos", f"{work}/out",
    ...                      model=save_tiny_model("qwen2-vl", f"{work}/tiny"),
    ...                      proposals=[o.track for o in clip.objects], decompositions="rules",
    ...                      overrides={"num_frames": 4})
    >>> result.report.n_queries, result.report.n_missing, result.report_path.name
    (1, 0, 'report.json')
    >>> result.failure_summary() is None
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tubescope.errors import TubescopeError
from tubescope.eval.table import results_table  # re-exported: the table of a run's report
from tubescope.integrations.runs.inputs import InputCheck, check_inputs, require_some_videos
from tubescope.integrations.runs.ledger import FAILURES, PREDICTIONS, RunLedger
from tubescope.integrations.runs.manifest import Manifest, Session, agreed_resolution, unique
from tubescope.eval.datasets import VideoFiles
from tubescope.integrations.runs.plan import (
    RunError,
    VideoJob,
    plan_jobs,
    select_queries,
    video_files,
)
from tubescope.integrations.runs.report import (
    REPORT,
    evaluate_run,
    failure_causes,
    failure_summary,
    write_report,
)
from tubescope.integrations.runs.request import Execution, RunRequest
from tubescope.plural import counted

__all__ = ["run_dataset", "RunResult", "results_table", "DatasetRun", "RunPlan"]

PathLike = str | os.PathLike[str]
Progress = Callable[[int, int, int], None]


@dataclass
class RunResult:
    """What :func:`run_dataset` produced.

    Attributes:
        out: the output directory. report: the :class:`tubescope.eval.Report`.
        report_path, predictions_path, failures_path: the files in ``out``.
        summary: the content of ``report.json``.
        failed: one entry per query without a prediction (``query_id``, ``video_id``,
            ``attempts``, ``error_type``, ``error``, ``cause``, ``input_error``), scored 0.
        processed: queries that got their final state in this call (predicted or given up).
        repaired_bytes: bytes of torn last lines cut off when resuming.
    """

    out: Path
    report: Any
    report_path: Path
    predictions_path: Path
    failures_path: Path
    summary: dict[str, Any]
    failed: list[dict[str, Any]] = field(default_factory=list)
    processed: int = 0
    repaired_bytes: int = 0

    def failure_summary(self) -> str | None:
        """One line on the failed queries (count, causes, first failing video); None if none."""
        return failure_summary(self.failed, int(self.summary["run"]["n_queries"]))


@dataclass(frozen=True)
class RunPlan:
    """The **plan** step's result: the queries of this run and their per-video jobs."""

    selected: list[Any]
    jobs: list[VideoJob]
    resolver: VideoFiles
    sampled_frames: int | None


# ---------------------------------------------------------------------------------- the run
def run_dataset(
    dataset: str,
    annotations: PathLike,
    videos: PathLike,
    out: PathLike,
    *,
    model: Any,
    preset: str = "default",
    proposals: Any = None,
    decompositions: Any = None,
    boxes: PathLike | None = None,
    config: Any = None,
    overrides: Mapping[str, Any] | None = None,
    limit: int | None = None,
    shard: str | tuple[int, int] | None = None,
    retries: int = 2,
    protocol: str = "tubedetr",
    ray: bool | str | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    device: str = "auto",
    dtype: str = "auto",
    progress: Progress | None = None,
    status: Callable[[str], None] | None = None,
    command: str | None = None,
) -> RunResult:
    """Ground every query of a benchmark split, write predictions + report in ``out``.

    Args:
        dataset: ``"hcstvg-v1"``, ``"hcstvg-v2"`` or ``"vidstg"``.
        annotations: the split's annotation file (any format :func:`tubescope.eval.load_annotations`
            reads: HC-STVG raw json, TubeDETR ``*_proc.json``, VidSTG ``*_annotations.json`` +
            ``boxes``, TubeDETR VidSTG ``{split}.json``).
        videos: the videos directory (HC-STVG: ``<name>.mp4`` flat; VidSTG: the VidOR
            ``video/`` tree ``<group>/<vid>.mp4``, or flat).
        out: output directory (created; reused to resume).
        model: a model id / checkpoint directory, a backend object (local runs), or a
            zero-argument callable that builds a backend (also with Ray).
        preset: ``"paper"`` (official per-backbone settings; HC-STVG queries are lower-cased like
            the official loader) or ``"default"``.
        proposals: ``"precomputed:DIR"`` or a directory/file path (per-video proposal JSON),
            ``"detector:grounding-dino"``, ``"attention"``, a list of Track (every video), a
            proposal source object, or None (the grounder's default).
        decompositions: a decomposition JSON (official ``gpt4_decompose_attr_action.json`` or
            ours), ``"rules"``, ``"mllm"``, a decomposer object, or None (grounder default).
        boxes: VidOR annotation directory (official VidSTG annotations only).
        config: a full ``GrounderConfig`` (replaces the preset); ``overrides``: preset fields to
            change (``{"num_frames": 8}``), checked like ``tubescope run --set``
            (:mod:`~tubescope.integrations.runs.overrides`).
        limit: only the first ``limit`` queries (annotation order). shard: ``"i/n"``, this
            machine's share of the videos (see :mod:`~tubescope.integrations.runs.plan`).
        retries: extra attempts per failed query, over all runs on ``out`` (input errors use
            none).
        protocol: evaluation protocol, ``"tubedetr"`` or ``"stcat"``.
        ray: None/False: this process. True: Ray (the initialised instance, else a new local
            one). A string: the address of a Ray cluster. workers / cpus_per_worker: Ray actors.
        device, dtype: for a model given by id.
        progress: ``progress(done, total, failed)`` after every video.
        status: ``status(message)`` for the stages (checking videos, loading, evaluating).
        command: the command line to record (default ``sys.argv``).

    Returns:
        a :class:`RunResult` (the report is also in ``out/report.json``;
        :meth:`RunResult.failure_summary` says what failed).

    Raises:
        RunError: bad arguments, no usable video, ``out`` in use by another run, or resuming
            with different settings; all before the model loads. AnnotationError: unreadable
            annotations. Grounding errors never raise: they are recorded in ``failures.jsonl``.
    """
    request = RunRequest.create(
        dataset,
        annotations,
        videos,
        out,
        model=model,
        preset=preset,
        proposals=proposals,
        decompositions=decompositions,
        boxes=boxes,
        config=config,
        overrides=overrides,
        limit=limit,
        shard=shard,
        retries=retries,
        protocol=protocol,
        command=command,
    )
    execution = Execution.create(
        ray,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        device=device,
        dtype=dtype,
        model=model,
    )
    return DatasetRun(request, execution, progress=progress, status=status).run()


class DatasetRun:
    """One session of a dataset run, as named steps (see the module docstring):
    :meth:`plan`, :meth:`check_inputs`, :meth:`identify`, :meth:`load_model`, :meth:`ground`,
    :meth:`write_input_failures`, :meth:`report`; :meth:`run` runs them in order.
    """

    def __init__(
        self,
        request: RunRequest,
        execution: Execution,
        *,
        progress: Progress | None = None,
        status: Callable[[str], None] | None = None,
    ) -> None:
        self.request = request
        self.execution = execution
        self.progress = progress or (lambda done, total, failed: None)
        self.say = status or (lambda message: None)
        self.processed = 0
        self.failed = 0
        self.total = 0

    # ------------------------------------------------------------------------ the whole run
    def run(self) -> RunResult:
        """All the steps; returns the result (see :func:`run_dataset`)."""
        from tubescope.integrations.runs.store import run_lock

        plan = self.plan()
        out_dir = self._output_folder()
        with run_lock(out_dir):
            ledger = RunLedger.open(out_dir)
            try:
                manifest = Manifest.load(out_dir)
                pending = ledger.pending(plan.jobs, self.request.max_attempts)
                checked = self.check_inputs(plan, pending, fresh=not manifest.exists)
                identity, data = self.identify()
                manifest.check_same(identity)
                session = Session.begin(self._command(), videos=str(self.request.videos.resolve()))
                session.repaired_bytes = ledger.repaired
                session.queries_pending = self.total = sum(len(j.query_ids) for j in pending)
                session.input_failures = sum(len(f.job.query_ids) for f in checked.failures)
                session.limit, session.shard = self.request.limit, self.request.shard_text
                if checked.ready:
                    self.ground(checked, ledger, manifest, identity, data, session)
                else:
                    manifest.record(identity, data, session)
                    self.write_input_failures(checked, ledger)
                session.finished_utc = _now()
                session.queries_processed = self.processed
                manifest.save()
            finally:
                ledger.close()
        self.say("evaluating")
        return self.report(out_dir, plan, ledger, manifest)

    # ------------------------------------------------------------------------------- steps
    def plan(self) -> RunPlan:
        """**Plan**: read the annotations, select this run's queries, group them into jobs."""
        from tubescope.eval import load_annotations

        request = self.request
        if not request.videos.is_dir():
            what = "not a directory" if request.videos.exists() else "no such directory"
            raise RunError(f"--videos {request.videos}: {what}")
        self._check_output_folder()
        self.say("reading annotations")
        queries = load_annotations(request.annotations, request.dataset, boxes_dir=request.boxes)
        selected = select_queries(queries, limit=request.limit, shard=request.shard)
        jobs = plan_jobs(selected, lowercase=request.query_transform == "lowercase")
        resolver = video_files(request.dataset, request.videos)
        require_some_videos(jobs, resolver)
        return RunPlan(selected, jobs, resolver, request.sampled_frames(ray=self.execution.ray))

    def check_inputs(self, plan: RunPlan, pending: list[VideoJob], *, fresh: bool) -> InputCheck:
        """**Check inputs** of the pending jobs, before the model loads (see :mod:`.inputs`).

        On a new ``out`` where not one pending video can be used, RunError: nothing is recorded.
        """
        if pending:
            self.say(f"checking {counted(len(pending), 'video')}")
        proposals = self.request.proposals.path
        checked = check_inputs(
            pending,
            plan.resolver,
            num_frames=plan.sampled_frames,
            proposals=proposals,
            annotations=self.request.annotations,
        )
        if fresh and checked.failures and not checked.ready:
            first = checked.failures[0]
            failed = [f.records()[0] for f in checked.failures]
            count = counted(len(failed), "video")
            raise RunError(
                f"none of the {count} to ground can be used ({failure_causes(failed)}); "
                f"first: {first.job.video_id} ({failed[0]['error']})"
            )
        return checked

    def identify(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's identity and its data files' hashes (cached in ``out/.hashes.json``)."""
        from tubescope.integrations.runs.provenance import HashCache, data_entry

        request = self.request
        self.say("hashing data files")
        cache = HashCache(request.out / ".hashes.json")
        data = {
            "annotations": data_entry(request.annotations, cache),
            "boxes": data_entry(request.boxes, cache),
            "decompositions": data_entry(request.decompositions.path, cache),
            "proposals": data_entry(request.proposals.path, cache),
            "videos": {"path": str(request.videos.resolve())},
        }
        cache.save()
        return request.identity(data), data

    def load_model(self) -> tuple[Any, list[dict[str, Any]]]:
        """**Load the model**: start the executor (one model per worker); its descriptions."""
        from tubescope.integrations.runs.worker import WorkerSpec

        request, execution = self.request, self.execution
        spec = WorkerSpec(
            model=request.model_for_workers,
            dataset=request.dataset,
            preset=request.preset,
            videos=str(request.videos.resolve()),
            proposals=request.proposals.arg,
            decomposer=request.decompositions.arg,
            config=request.config,
            overrides=dict(request.overrides),
            device=execution.device,
            dtype=execution.dtype,
            decomposition_cache=str(request.out / "decompositions.json"),
        )
        if execution.ray:
            from tubescope.integrations.runs.executors import RayExecutor

            executor: Any = RayExecutor(
                spec,
                address=execution.address,
                workers=execution.workers,
                cpus_per_worker=execution.cpus_per_worker,
            )
        else:
            from tubescope.integrations.runs.executors import LocalExecutor

            executor = LocalExecutor(spec)
        self.say("loading the model" + (" on Ray workers" if execution.ray else ""))
        try:
            return executor, executor.start()
        except BaseException:
            executor.close()
            raise

    def ground(
        self,
        checked: InputCheck,
        ledger: RunLedger,
        manifest: Manifest,
        identity: dict[str, Any],
        data: dict[str, Any],
        session: Session,
    ) -> None:
        """Load the model, then **ground** the ready jobs with retries, writing every record."""
        executor, described = self.load_model()
        try:
            resolved = agreed_resolution(described)
            manifest.check_resolved(resolved)
            session.executor = executor.info()
            session.hardware = unique([d["hardware"] for d in described])
            session.checkpoints = sorted({str(d["model"].get("checkpoint")) for d in described})
            manifest.record(identity, data, session, resolved)
            manifest.save()  # finished_utc null: a killed session stays in the history
            self.say("grounding")
            self.progress(0, self.total, 0)
            self.write_input_failures(checked, ledger)

            def past(job: VideoJob) -> dict[str, int]:
                return {q: ledger.attempts[q] for q in job.query_ids}

            max_attempts = self.request.max_attempts
            for _job, records in executor.run(checked.ready, past, max_attempts):
                for record in records:
                    self._count(*ledger.add(record, max_attempts))
                self.progress(self.processed, self.total, self.failed)
            session.executor = executor.info()
        except BaseException as err:
            if manifest.session is session:
                session.aborted_utc = _now()
                session.aborted_by = type(err).__name__
                session.queries_processed = self.processed
                try:
                    manifest.save()
                except OSError:  # pragma: no cover - keep the original error
                    pass
            raise
        finally:
            executor.close()

    def write_input_failures(self, checked: InputCheck, ledger: RunLedger) -> None:
        """**Write** the input failures found before loading (they use no attempt)."""
        for failure in checked.failures:
            for record in failure.records():
                self._count(*ledger.add(record, self.request.max_attempts))
        if checked.failures:
            self.progress(self.processed, self.total, self.failed)

    def report(
        self, out_dir: Path, plan: RunPlan, ledger: RunLedger, manifest: Manifest
    ) -> RunResult:
        """**Evaluate** the predictions of this run's queries and **report** (files in ``out``)."""
        request = self.request
        report, run_info = evaluate_run(
            out_dir, plan.selected, request.dataset, request.protocol, ledger
        )
        summary = write_report(
            out_dir,
            report,
            run_info,
            manifest,
            dataset=request.dataset,
            protocol=request.protocol,
            settings={
                "limit": request.limit,
                "shard": request.shard_text,
                "retries": request.retries,
            },
        )
        return RunResult(
            out=out_dir,
            report=report,
            report_path=out_dir / REPORT,
            predictions_path=out_dir / PREDICTIONS,
            failures_path=out_dir / FAILURES,
            summary=summary,
            failed=run_info["failed"],
            processed=self.processed,
            repaired_bytes=ledger.repaired,
        )

    # ----------------------------------------------------------------------------- helpers
    def _count(self, final: bool, failed: bool) -> None:
        self.processed += final
        self.failed += failed

    def _command(self) -> str:
        from tubescope.integrations.runs.provenance import command_line

        return self.request.command or command_line()

    def _check_output_folder(self) -> None:
        """``--out`` can be created and written (checked before the annotations are read)."""
        from tubescope.durable import check_writable

        try:
            check_writable(self.request.out, "--out", folder=True)
        except TubescopeError as err:
            raise RunError(str(err)) from None

    def _output_folder(self) -> Path:
        out = self.request.out
        if out.exists() and not out.is_dir():
            raise RunError(f"--out {out}: is a file, not a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunError(f"--out {out}: cannot create this folder ({err.strerror})") from None
        if not os.access(out, os.W_OK):
            raise RunError(f"--out {out}: not writable")
        return out


def _now() -> str:
    from tubescope.integrations.runs.provenance import utc_now

    return utc_now()
