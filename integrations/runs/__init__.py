"""Benchmark dataset runs: ground a whole HC-STVG / VidSTG split with one call, resumably,
on one machine or a Ray cluster, then evaluate it with provenance.

Command line: ``tubescope run`` (see ``tubescope run --help``). Python:

    >>> from tubescope.integrations.runs import run_dataset
    >>> result = run_dataset(                                     # doctest: +SKIP
    ...     "hcstvg-v2", "anno_v2/val_v2.json", "v2_video/", "runs/llava-ov-v2",
    ...     model="llava-hf/llava-onevision-qwen2-7b-ov-hf", preset="paper",
    ...     proposals="dino_sam2_proposals/", decompositions="gpt4_decompose_attr_action.json")
    >>> result.summary["metrics"]["m_vIoU"]                       # doctest: +SKIP

Pieces (each usable on its own): :mod:`.request` (the checked arguments: :class:`RunRequest`,
:class:`Execution`; ``--set`` parsing in :mod:`.overrides`), :mod:`.plan` (jobs, shards, video
lookup; the dataset-specific rules are in :mod:`.dataset_rules`), :mod:`.inputs` (the checks
before the model loads), :mod:`.store` (crash-safe JSONL, lock), :mod:`.ledger` (what is done,
what failed), :mod:`.failures` (failure records, input errors), :mod:`.manifest` (``run.json``
and its sessions), :mod:`.worker` (one model, many videos), :mod:`.executors` (local / Ray),
:mod:`.provenance`, :mod:`.report`, and :mod:`.api` (:func:`run_dataset`, :class:`DatasetRun`:
the steps). A runnable example on a synthetic dataset is in
:mod:`tubescope.integrations.runs.api`.

Ray is optional: ``pip install 'tubescope[ray]'``; it is imported only when ``ray=`` is used.
"""

from tubescope.integrations.runs.api import DatasetRun, RunResult, results_table, run_dataset
from tubescope.integrations.runs.plan import (
    VIDEO_EXTENSIONS,
    RunError,
    VideoJob,
    video_files,
    parse_shard,
    plan_jobs,
    select_queries,
)
from tubescope.integrations.runs.request import Execution, RunRequest
from tubescope.integrations.runs.store import JsonlLog

__all__ = [
    "run_dataset",
    "RunRequest",
    "Execution",
    "DatasetRun",
    "RunResult",
    "RunError",
    "results_table",
    "VideoJob",
    "video_files",
    "VIDEO_EXTENSIONS",
    "parse_shard",
    "plan_jobs",
    "select_queries",
    "JsonlLog",
]
