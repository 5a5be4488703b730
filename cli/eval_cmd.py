"""``tubescope eval``: score STVG predictions the way the published evaluators do.

Example::

    tubescope eval --dataset hcstvg-v1 --annotations test.json --predictions preds.jsonl
    tubescope eval --dataset vidstg --annotations test_annotations.json --boxes vidor/annotation \\
        --predictions preds.jsonl --protocol stcat --json-out results.json --per-query q.csv

Errors (malformed or missing files, a file of another dataset) are tubescope errors: the
``tubescope`` group prints them as one line naming the file, record/line and field, and exits
with code 2. The output paths are checked before anything is scored; the results JSON is
written atomically. The ``--dataset`` choices are the names of the dataset table
(:mod:`tubescope.eval.datasets`), read when the option is parsed: a dataset registered by a
plug-in is a choice too.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tubescope.cli.choices import dataset_choice
from tubescope.cli.values import NonEmptyPath

__all__ = ["eval_command"]

_PROTOCOLS = ("tubedetr", "stcat")
_FORMATS = ("auto", "jsonl", "hcstvg-official", "tubedetr")


@click.command("eval")
@click.option(
    "--dataset",
    type=dataset_choice(),
    required=True,
    help="Benchmark the annotations belong to (checked against the file's fields).",
)
@click.option(
    "--annotations",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    required=True,
    help="GT file: HC-STVG raw json, TubeDETR *_proc.json, VidSTG *_annotations.json "
    "or TubeDETR {split}.json.",
)
@click.option(
    "--boxes",
    "boxes_dir",
    type=NonEmptyPath(file_okay=False, path_type=Path),
    default=None,
    help="VidOR annotation directory (<dir>/**/<vid>.json); needed with official VidSTG "
    "annotations.",
)
@click.option(
    "--predictions",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    required=True,
    help="tubescope JSONL, official HC-STVG json or TubeDETR {videos, frames} json.",
)
@click.option(
    "--protocol",
    type=click.Choice(_PROTOCOLS),
    default="tubedetr",
    show_default=True,
    help="Whose evaluator to reproduce.",
)
@click.option(
    "--prediction-format",
    type=click.Choice(_FORMATS),
    default="auto",
    show_default=True,
    help="Prediction file format.",
)
@click.option(
    "--index-base",
    type=click.IntRange(0, 1),
    default=1,
    show_default=True,
    help="Frame index base of official HC-STVG prediction files (0 or 1).",
)
@click.option(
    "--json-out",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results JSON (fractions).",
)
@click.option(
    "--per-query",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    default=None,
    help="Write per-query scores as CSV.",
)
@click.option(
    "--plots",
    "plots_dir",
    type=NonEmptyPath(file_okay=False, path_type=Path),
    default=None,
    help="Write PNG plots into this directory.",
)
def eval_command(
    dataset: str,
    annotations: Path,
    boxes_dir: Path | None,
    predictions: Path,
    protocol: str,
    prediction_format: str,
    index_base: int,
    json_out: Path | None,
    per_query: Path | None,
    plots_dir: Path | None,
) -> None:
    """Score STVG predictions (m_tIoU, m_vIoU, vIoU@0.3/0.5) on HC-STVG or VidSTG."""
    from rich.console import Console

    from tubescope.durable import atomic_write_text, check_writable
    from tubescope.errors import ValidationError
    from tubescope.eval import evaluate, write_plots
    from tubescope.eval.table import results_table

    if boxes_dir is not None and dataset != "vidstg":
        raise ValidationError("only applies with --dataset vidstg", f"--boxes {boxes_dir}")
    for path, flag in ((json_out, "--json-out"), (per_query, "--per-query")):
        if path is not None:
            check_writable(path, flag)
    if plots_dir is not None:
        check_writable(plots_dir, "--plots", folder=True)
    report = evaluate(
        annotations,
        predictions,
        dataset=dataset,
        protocol=protocol,
        boxes_dir=boxes_dir,
        prediction_format=None if prediction_format == "auto" else prediction_format,
        index_base=index_base,
    )
    table = results_table(report, dataset, protocol)
    console = Console()
    console.print(table)
    if report.n_missing:
        console.print(
            f"[yellow]{report.n_missing} of {report.n_queries} queries have no prediction; "
            "they score 0.[/yellow]"
        )
    if report.n_stcat_would_drop:
        console.print(
            f"{report.n_stcat_would_drop} of {report.n_queries} queries would be dropped by "
            "STCAT's own loader (scored here; see docs/evaluation.md)."
        )
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(report.to_dict(), indent=2) + "\n")
        console.print(f"results: {json_out}")
    if per_query is not None:
        report.to_csv(per_query)
        console.print(f"per-query scores: {per_query}")
    if plots_dir is not None:
        for path in write_plots(report, plots_dir):
            console.print(f"plot: {path}")
