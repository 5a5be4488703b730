"""``run_dataset()``: ground a whole benchmark split, resumably, then evaluate it.

Files in ``out`` (all next to each other):

===================  ========================================================================
``predictions.jsonl``  one line per finished query, exactly the evaluator's JSONL
                       (``{"video_id", "query_id", "tube"}``; ``tube`` null = no answer)
``failures.jsonl``     one line per failed attempt: ``query_id``, ``video_id``, ``attempt``,
                       ``error_type``, ``error`` (one line), ``transient``, ``traceback``,
                       ``worker``, ``time_utc``
``run.json``           the manifest: what produced the predictions (model, revision, resolved
                       config, data hashes) and one entry per session (start/end, command,
                       executor, hardware, counts)
``report.json``        ``{"dataset", "protocol", "metrics": Report.to_dict(), "run": {...},
                       "provenance": {...}}``
``report.txt``         the results table as printed
``per_query.csv``      per-query tIoU / vIoU (``Report.to_csv``)
===================  ========================================================================

Resume and retry semantics:

* a query with a line in ``predictions.jsonl`` is finished and never grounded again;
* a query is attempted at most ``retries + 1`` times in total, counting every attempt recorded in
  ``failures.jsonl`` by earlier runs on the same ``out``; transient errors are retried at once
  within a run, input errors (corrupt video, bad proposals) once per run (see
  :mod:`~tubescope.integrations.runs.worker`); a later run with a larger ``retries`` gives failed
  queries more attempts;
* a query that ends without a prediction is **scored 0 as a missing prediction** and listed in
  ``report.json["run"]["failed"]`` with its last error;
* an interrupted run (Ctrl-C, kill -9, power loss) loses at most the video in progress: rerun the
  same command; a torn last line is repaired (:mod:`~tubescope.integrations.runs.store`);
* resuming with a different model, model revision, resolved config, preset, proposals,
  decompositions or annotation file is refused (it would mix two experiments in one file); use a
  new ``out``. ``--limit``, ``--shard``, ``--retries``, ``--protocol`` and ``--ray`` may change.

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
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tubescope.integrations.runs.plan import (
    RunError,
    VideoJob,
    parse_shard,
    plan_jobs,
    select_queries,
)

__all__ = ["run_dataset", "RunResult", "results_table"]

from tubescope.eval.table import results_table  # noqa: E402  (re-exported: the table of a run's report)

PathLike = str | os.PathLike[str]
Progress = Callable[[int, int, int], None]

PREDICTIONS = "predictions.jsonl"
FAILURES = "failures.jsonl"
MANIFEST = "run.json"
REPORT = "report.json"
REPORT_TEXT = "report.txt"
PER_QUERY = "per_query.csv"

#: fields of the manifest that must not change when a run is resumed
_FIXED = (
    "dataset",
    "model",
    "preset",
    "settings",
    "proposals",
    "decompositions",
    "query_transform",
    "data_sha256",
)


@dataclass
class RunResult:
    """What :func:`run_dataset` produced.

    Attributes:
        out: the output directory. report: the :class:`tubescope.eval.Report`.
        report_path, predictions_path, failures_path: the files in ``out``.
        summary: the content of ``report.json``.
        failed: one entry per query without a prediction (``query_id``, ``video_id``,
            ``attempts``, ``error``), scored 0.
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


# ------------------------------------------------------------------------------ argument helpers
_PROPOSAL_FORMS = ("attention", "detector:", "precomputed:")


def _proposal_spec(proposals: Any) -> tuple[Any, str | None, Path | None]:
    """(what the workers get, label for the manifest, data path to hash)."""
    if proposals is None:
        return None, None, None
    if isinstance(proposals, (str, os.PathLike)):
        text = os.fspath(proposals).strip()
        lowered = text.lower()
        if lowered.startswith("precomputed:"):
            path = Path(text.split(":", 1)[1]).expanduser()
            if not path.exists():
                raise RunError(f"--proposals {text!r}: {path} does not exist")
            spec = f"precomputed:{path.resolve()}"
            return spec, spec, path.resolve()
        if lowered == "attention" or lowered.startswith("detector:"):
            return text, text, None
        path = Path(text).expanduser()
        if path.exists():
            spec = f"precomputed:{path.resolve()}"
            return spec, spec, path.resolve()
        raise RunError(
            f"--proposals {text!r}: neither an existing file/directory nor a spec "
            "(precomputed:PATH, detector:NAME[@MODEL], attention)"
        )
    if isinstance(proposals, Sequence):
        from tubescope.types import Track

        if all(isinstance(t, Track) for t in proposals):
            tracks = list(proposals)
            return tracks, f"<{len(tracks)} given tracks>", None
    return proposals, f"<{type(proposals).__name__}: {getattr(proposals, 'name', '?')}>", None


def _decomposer_spec(decompositions: Any) -> tuple[Any, str | None, Path | None]:
    if decompositions is None:
        return None, None, None
    if isinstance(decompositions, (str, os.PathLike)):
        text = os.fspath(decompositions)
        if text in ("rules", "mllm"):
            return text, text, None
        path = Path(text).expanduser()
        if not path.is_file():
            raise RunError(f"--decompositions {text!r}: no such file (or use 'rules' / 'mllm')")
        return str(path.resolve()), str(path.resolve()), path.resolve()
    return decompositions, f"<{type(decompositions).__name__}>", None


def _model_label(model: Any) -> str:
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        path = Path(text).expanduser()
        return str(path.resolve()) if path.exists() else text
    family = getattr(model, "family", None)
    if family is not None:
        return f"<{family}:{getattr(model, 'model_id', '?')}>"
    return f"<{getattr(model, '__qualname__', type(model).__name__)}>"


def _model_for_workers(model: Any) -> Any:
    if isinstance(model, (str, os.PathLike)):
        path = Path(os.fspath(model)).expanduser()
        return str(path.resolve()) if path.exists() else os.fspath(model)
    return model


def _ray_address(ray: bool | str | None) -> tuple[bool, str | None]:
    if ray is None or ray is False:
        return False, None
    if ray is True or (isinstance(ray, str) and ray.strip().lower() in ("", "local")):
        return True, None
    return True, str(ray)


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
            change (``{"num_frames": 8}``).
        limit: only the first ``limit`` queries (annotation order). shard: ``"i/n"``, this
            machine's share of the videos (see :mod:`~tubescope.integrations.runs.plan`).
        retries: extra attempts per failed query, over all runs on ``out``.
        protocol: evaluation protocol, ``"tubedetr"`` or ``"stcat"``.
        ray: None/False: this process. True: Ray (the initialised instance, else a new local
            one). A string: the address of a Ray cluster. workers / cpus_per_worker: Ray actors.
        device, dtype: for a model given by id.
        progress: ``progress(done, total, failed)`` after every video.
        status: ``status(message)`` for the stages (loading, hashing, evaluating).
        command: the command line to record (default ``sys.argv``).

    Returns:
        a :class:`RunResult` (the report is also in ``out/report.json``).

    Raises:
        RunError: bad arguments, ``out`` in use by another run, or resuming with different
            settings. AnnotationError: unreadable annotations. Grounding errors never raise:
            they are recorded in ``failures.jsonl``.
    """
    from tubescope.engine.config import PRESETS, GrounderConfig
    from tubescope.eval import DATASETS, PROTOCOLS, load_annotations
    from tubescope.integrations.runs.provenance import (
        HashCache,
        command_line,
        data_entry,
        utc_now,
    )
    from tubescope.integrations.runs.store import JsonlLog, read_json, run_lock, write_json_atomic
    from tubescope.integrations.runs.worker import WorkerSpec

    say = status or (lambda message: None)
    if dataset not in DATASETS:
        raise RunError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if preset not in PRESETS:
        raise RunError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if protocol not in PROTOCOLS:
        raise RunError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if retries < 0:
        raise RunError(f"--retries must be >= 0, got {retries}")
    if config is not None and not isinstance(config, GrounderConfig):
        raise RunError(f"config must be a GrounderConfig, got {type(config).__name__}")
    overrides = dict(overrides or {})
    if overrides:
        try:  # unknown or invalid fields fail here, before any work
            GrounderConfig().replace(**overrides)
        except (TypeError, ValueError) as err:
            raise RunError(f"config overrides {overrides}: {str(err).splitlines()[0]}") from None
    videos_dir = Path(videos).expanduser()
    if not videos_dir.is_dir():
        raise RunError(f"--videos {videos_dir}: not a directory")
    use_ray, address = _ray_address(ray)
    shard_pair = parse_shard(shard)
    out_dir = Path(out).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)

    say("reading annotations")
    queries = load_annotations(annotations, dataset, boxes_dir=boxes)
    selected = select_queries(queries, limit=limit, shard=shard_pair)
    lowercase = preset == "paper" and config is None and dataset.startswith("hcstvg")
    jobs = plan_jobs(selected, lowercase=lowercase)
    proposal_arg, proposal_label, proposal_path = _proposal_spec(proposals)
    decomposer_arg, decomposer_label, decomposer_path = _decomposer_spec(decompositions)

    with run_lock(out_dir):
        session: dict[str, Any] = {
            "started_utc": utc_now(),
            "finished_utc": None,
            "command": command or command_line(),
            "argv": list(sys.argv),
            "cwd": os.getcwd(),
        }
        say("hashing data files")
        cache = HashCache(out_dir / ".hashes.json")
        data = {
            "annotations": data_entry(annotations, cache),
            "boxes": data_entry(boxes, cache),
            "decompositions": data_entry(decomposer_path, cache),
            "proposals": data_entry(proposal_path, cache),
            "videos": {"path": str(videos_dir.resolve())},
        }
        cache.save()
        request = {
            "dataset": dataset,
            "model": _model_label(model),
            "preset": preset if config is None else "custom",
            "settings": config.to_dict()
            if config is not None
            else {k: overrides[k] for k in sorted(overrides)},
            "proposals": proposal_label,
            "decompositions": decomposer_label,
            "query_transform": "lowercase" if lowercase else None,
            "data_sha256": {k: (v or {}).get("sha256") for k, v in data.items() if k != "videos"},
        }
        request = json.loads(json.dumps(request))  # tuples -> lists, as the manifest reads back
        manifest_path = out_dir / MANIFEST
        manifest: dict[str, Any] = read_json(manifest_path) if manifest_path.exists() else {}
        if manifest:
            _check_same(manifest, request, manifest_path)

        predictions = JsonlLog.open(out_dir / PREDICTIONS)
        failures = JsonlLog.open(out_dir / FAILURES)
        try:
            done = _finished(predictions.records, predictions.path)
            failed_attempts = Counter(str(r.get("query_id")) for r in failures.records)
            last_error = {str(r.get("query_id")): r for r in failures.records}
            repaired = predictions.repaired + failures.repaired
            max_attempts = retries + 1
            pending = []
            for job in jobs:
                todo = [
                    q for q in job.query_ids if q not in done and failed_attempts[q] < max_attempts
                ]
                if todo:
                    pending.append(job.subset(todo))
            total = sum(len(j.query_ids) for j in pending)
            session.update(repaired_bytes=repaired, queries_pending=total, limit=limit, shard=shard)
            processed = 0
            if pending:
                spec = WorkerSpec(
                    model=_model_for_workers(model),
                    dataset=dataset,
                    preset=preset,
                    videos=str(videos_dir.resolve()),
                    proposals=proposal_arg,
                    decomposer=decomposer_arg,
                    config=config,
                    overrides=overrides,
                    device=device,
                    dtype=dtype,
                )
                if use_ray:
                    from tubescope.integrations.runs.executors import RayExecutor

                    executor: Any = RayExecutor(
                        spec, address=address, workers=workers, cpus_per_worker=cpus_per_worker
                    )
                else:
                    from tubescope.integrations.runs.executors import LocalExecutor

                    executor = LocalExecutor(spec)
                try:
                    say("loading the model" + (" on Ray workers" if use_ray else ""))
                    described = executor.start()
                    resolved = _resolved(described)
                    if manifest.get("resolved") and manifest["resolved"] != resolved:
                        raise RunError(
                            f"{manifest_path}: the predictions were made with "
                            f"{_diff(manifest['resolved'], resolved)}; resume with the same model "
                            "and config, or use a new --out"
                        )
                    session["executor"] = executor.info()
                    session["hardware"] = _unique([d["hardware"] for d in described])
                    session["checkpoints"] = sorted(
                        {str(d["model"].get("checkpoint")) for d in described}
                    )
                    if not manifest:
                        manifest = {"created_utc": session["started_utc"], **request, "data": data}
                    manifest["resolved"] = resolved
                    # recorded now (finished_utc null): a killed session stays in the history
                    manifest["sessions"] = [*manifest.get("sessions", []), session]
                    write_json_atomic(manifest_path, manifest)
                    say("grounding")
                    if progress:
                        progress(0, total, 0)
                    n_failed = 0

                    def past(job: VideoJob) -> dict[str, int]:
                        return {q: failed_attempts[q] for q in job.query_ids}

                    for _job, records in executor.run(pending, past, max_attempts):
                        for record in records:
                            qid = str(record["query_id"])
                            if record["type"] == "prediction":
                                if qid in done:
                                    continue  # cannot happen with one writer; never write twice
                                predictions.append(
                                    {
                                        "video_id": record["video_id"],
                                        "query_id": qid,
                                        "tube": record["tube"],
                                    }
                                )
                                done.add(qid)
                                processed += 1
                            else:
                                entry = {k: v for k, v in record.items() if k != "type"}
                                entry["time_utc"] = utc_now()
                                failures.append(entry)
                                failed_attempts[qid] += 1
                                last_error[qid] = entry
                                if (
                                    not record.get("transient")
                                    or failed_attempts[qid] >= max_attempts
                                ):
                                    processed += 1
                                    n_failed += 1
                        if progress:
                            progress(processed, total, n_failed)
                    session["executor"] = executor.info()
                except BaseException as err:
                    if manifest.get("sessions") and manifest["sessions"][-1] is session:
                        session.update(
                            aborted_utc=utc_now(),
                            aborted_by=type(err).__name__,
                            queries_processed=processed,
                        )
                        try:
                            write_json_atomic(manifest_path, manifest)
                        except OSError:  # pragma: no cover - keep the original error
                            pass
                    raise
                finally:
                    executor.close()
            elif not manifest:
                manifest = {"created_utc": session["started_utc"], **request, "data": data}
            session.update(finished_utc=utc_now(), queries_processed=processed)
            sessions = manifest.setdefault("sessions", [])
            if not sessions or sessions[-1] is not session:
                sessions.append(session)
            write_json_atomic(manifest_path, manifest)
        finally:
            predictions.close()
            failures.close()

        say("evaluating")
        result = _evaluate(
            out_dir,
            selected,
            dataset,
            protocol,
            done,
            failed_attempts,
            last_error,
            manifest,
            data,
            limit=limit,
            shard=shard,
            retries=retries,
        )
        result.processed = processed
        result.repaired_bytes = repaired
        return result


# --------------------------------------------------------------------------- manifest helpers
def _finished(records: list[dict[str, Any]], path: Path) -> set[str]:
    done: set[str] = set()
    for number, record in enumerate(records, start=1):
        qid = record.get("query_id")
        if qid is None or "tube" not in record:
            raise RunError(
                f"{path}: record {number} has no query_id/tube; not a run predictions file"
            )
        if str(qid) in done:
            raise RunError(f"{path}: query {qid!r} has two predictions (two runs wrote this file?)")
        done.add(str(qid))
    return done


def _resolved(described: list[dict[str, Any]]) -> dict[str, Any]:
    """Model + config every worker loaded; they must agree (a cluster with mixed revisions fails).

    The checkpoint's local path is left out: it differs between machines (cache locations) while
    the weights do not; the id, revision and config hash identify them.
    """

    def key(info: dict[str, Any]) -> dict[str, Any]:
        model = {k: v for k, v in info["model"].items() if k != "checkpoint"}
        return json.loads(json.dumps({"model": model, "config": info["config"]}))

    first = key(described[0])
    for other in described[1:]:
        if key(other) != first:
            raise RunError(
                f"Ray workers loaded different models or configs: {_diff(first, key(other))}"
            )
    return first


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _diff(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        parts = []
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                parts.append(_diff(old.get(key), new.get(key), f"{prefix}{key}."))
        return "; ".join(parts)
    return f"{prefix.rstrip('.')}={old!r} (now {new!r})"


def _check_same(manifest: dict[str, Any], request: dict[str, Any], path: Path) -> None:
    old = {k: manifest.get(k) for k in _FIXED}
    new = {k: request.get(k) for k in _FIXED}
    if old != new:
        raise RunError(
            f"{path}: this output directory holds a run with different settings: "
            f"{_diff(old, new)}; "
            "resume with the same settings, or use a new --out"
        )


# -------------------------------------------------------------------------------- evaluation
def _evaluate(
    out_dir: Path,
    selected: list[Any],
    dataset: str,
    protocol: str,
    done: set[str],
    failed_attempts: Counter[str],
    last_error: dict[str, dict[str, Any]],
    manifest: dict[str, Any],
    data: dict[str, Any],
    *,
    limit: int | None,
    shard: Any,
    retries: int,
) -> RunResult:
    from tubescope.eval import evaluate, read_predictions
    from tubescope.integrations.runs.provenance import tubescope_info, utc_now
    from tubescope.integrations.runs.store import write_json_atomic

    predictions_path = out_dir / PREDICTIONS
    wanted = {q.query_id for q in selected}
    loaded = read_predictions(predictions_path, "jsonl") if predictions_path.stat().st_size else []
    mine = [p for p in loaded if p.query_id in wanted]
    extra = len(loaded) - len(mine)
    report = evaluate(selected, mine, dataset=dataset, protocol=protocol)
    failed = []
    not_run = []
    for query in selected:
        if query.query_id in done:
            continue
        record = last_error.get(query.query_id)
        if record is None:
            not_run.append(query.query_id)
            continue
        failed.append(
            {
                "query_id": query.query_id,
                "video_id": query.video_id,
                "attempts": int(failed_attempts[query.query_id]),
                "error_type": record.get("error_type"),
                "error": record.get("error"),
            }
        )
    run_info = {
        "n_queries": len(selected),
        "n_predicted": len(selected) - len(failed) - len(not_run),
        "n_failed": len(failed),
        "n_not_run": len(not_run),
        "n_extra_predictions": extra,
        "failed": failed,
        "not_run": not_run[:100],
        "limit": limit,
        "shard": shard if shard is None or isinstance(shard, str) else f"{shard[0]}/{shard[1]}",
        "retries": retries,
        "files": {
            "predictions": PREDICTIONS,
            "failures": FAILURES,
            "manifest": MANIFEST,
            "per_query": PER_QUERY,
        },
    }
    sessions = manifest.get("sessions", [])
    checkpoints = [c for s in sessions for c in s.get("checkpoints", [])]
    provenance = {
        "tubescope": tubescope_info(),
        "report_utc": utc_now(),
        "created_utc": manifest.get("created_utc"),
        "dataset": manifest.get("dataset"),
        "model": {
            **((manifest.get("resolved") or {}).get("model") or {"id": manifest.get("model")}),
            "checkpoints": sorted({str(c) for c in checkpoints if c}),
        },
        "preset": manifest.get("preset"),
        "config": (manifest.get("resolved") or {}).get("config"),
        "proposals": manifest.get("proposals"),
        "decompositions": manifest.get("decompositions"),
        "query_transform": manifest.get("query_transform"),
        "data": manifest.get("data", data),
        "command": sessions[-1].get("command") if sessions else None,
        "hardware": _unique([h for s in sessions for h in s.get("hardware", [])]),
        "sessions": sessions,
    }
    summary = {
        "dataset": dataset,
        "protocol": protocol,
        "metrics": report.to_dict(),
        "run": run_info,
        "provenance": provenance,
    }
    report_path = out_dir / REPORT
    write_json_atomic(report_path, summary)
    report.to_csv(out_dir / PER_QUERY)
    (out_dir / REPORT_TEXT).write_text(
        _render_text(report, dataset, protocol, run_info), encoding="utf-8"
    )
    return RunResult(
        out=out_dir,
        report=report,
        report_path=report_path,
        predictions_path=predictions_path,
        failures_path=out_dir / FAILURES,
        summary=summary,
        failed=failed,
    )


def _render_text(report: Any, dataset: str, protocol: str, run_info: dict[str, Any]) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=100, no_color=True, color_system=None)
    console.print(results_table(report, dataset, protocol))
    if run_info["n_failed"]:
        console.print(f"{run_info['n_failed']} queries failed and score 0:")
        for entry in run_info["failed"]:
            console.print(
                f"  {entry['query_id']} ({entry['attempts']} attempts): {entry['error']}",
                markup=False,
            )
    return buffer.getvalue()
