"""``tubescope run``: ground a whole benchmark split, resumably, then evaluate it.

Example (HC-STVG-v2 val with LLaVA-OneVision, the paper's configuration)::

    tubescope run --dataset hcstvg-v2 --annotations anno_v2/val_v2.json --videos v2_video \\
        --proposals dino_sam2_proposals --decompositions gpt4_decompose_attr_action.json \\
        --model llava-hf/llava-onevision-qwen2-7b-ov-hf --preset paper --out runs/ov-v2

Rerunning the same command resumes (finished queries are skipped, failed ones retried while
they have attempts left; input errors such as a missing video use none). ``--ray`` spreads the
videos over the actors of a Ray cluster. The files written to ``--out`` are described in
:mod:`tubescope.integrations.runs.api`.

Exit status: 0 when every query of the run has a prediction; 2 on bad input found before the
model loads (one ``error:`` line); 3 when some queries failed (they score 0; the last line
summarises the causes and names the first failing video); 130 on Ctrl-C.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tubescope.cli.choices import dataset_choice
from tubescope.cli.values import TEXT, NonEmptyPath

__all__ = ["run_command", "EXIT_QUERIES_FAILED", "EXIT_INTERRUPTED"]

EXIT_QUERIES_FAILED = 3
EXIT_INTERRUPTED = 130



def _quiet_transformers() -> None:
    """No per-checkpoint "Loading weights" bars under our own progress bar."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - cosmetic only
        pass


def _canonical_command() -> str:
    """``tubescope run`` with every option as parsed (defaults left out): how to redo this run."""
    import shlex

    ctx = click.get_current_context()
    words = ["tubescope", "run"]
    for param in ctx.command.params:
        if not isinstance(param, click.Option):
            continue
        value = ctx.params.get(param.name)
        if value is None or value == () or (value == param.default and not param.required):
            continue
        flag = max(param.opts, key=len)
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if param.name == "ray_address" and item == "local":
                words.append(flag)
            else:
                words += [flag, str(item)]
    return shlex.join(words)


@click.command("run")
@click.option(
    "--dataset", type=dataset_choice(), required=True, help="Benchmark of the annotations."
)
@click.option(
    "--annotations",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    required=True,
    help="GT file: HC-STVG raw json (test.json / val_v2.json), TubeDETR *_proc.json, "
    "VidSTG *_annotations.json (+ --boxes) or TubeDETR VidSTG {split}.json.",
)
@click.option(
    "--videos",
    type=NonEmptyPath(path_type=Path),
    required=True,
    help="Videos directory: <video_id>.mp4/.mkv/... flat, or in sub-folders at any depth "
    "(VidOR: video/<group>/<vid>.mp4).",
)
@click.option(
    "--boxes",
    type=NonEmptyPath(file_okay=False, path_type=Path),
    default=None,
    help="VidOR annotation directory; needed with official VidSTG annotations.",
)
@click.option(
    "--proposals",
    type=TEXT,
    default=None,
    metavar="SPEC|DIR",
    help="Candidate tracks: a proposal directory/file (= precomputed:PATH), "
    "detector:grounding-dino, "
    "detector:owlv2, attention. Default: the grounder's (attention).",
)
@click.option(
    "--decompositions",
    type=TEXT,
    default=None,
    metavar="FILE|rules|mllm",
    help="Query decompositions: official gpt4_decompose_attr_action.json or ours; or 'rules' / "
    "'mllm'. Default: the loaded model (mllm) when it can generate, else rules.",
)
@click.option(
    "--model", type=TEXT, required=True, help="Model id (Hugging Face) or local checkpoint directory."
)
@click.option(
    "--preset",
    type=click.Choice(["paper", "default"]),
    default="default",
    show_default=True,
    help="'paper': the official per-backbone configuration (HC-STVG queries lower-cased).",
)
@click.option(
    "--set",
    "sets",
    type=TEXT,
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one GrounderConfig field of the preset, e.g. --set num_frames=8, --set tas=false, "
    "--set layers=6,7,8 (checked against the field's type and range). Repeatable.",
)
@click.option(
    "--out",
    type=NonEmptyPath(path_type=Path),
    required=True,
    help="Output directory (predictions.jsonl, failures.jsonl, run.json, report.json). "
    "Reuse it to resume.",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Only the first N queries (annotation order).",
)
@click.option(
    "--shard",
    type=TEXT,
    default=None,
    metavar="i/n",
    help="Only shard i of n (0-based), split by video; give every shard its own --out.",
)
@click.option(
    "--ray",
    "ray_address",
    type=TEXT,
    default=None,
    is_flag=False,
    flag_value="local",
    metavar="[ADDRESS]",
    help="Run on Ray: a local instance with no ADDRESS, else the cluster at ADDRESS "
    "(auto, host:6379, "
    "ray://host:10001). Needs pip install 'tubescope[ray]'.",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="Ray actors (default: one per GPU, else one per CPU).",
)
@click.option(
    "--protocol",
    type=click.Choice(["tubedetr", "stcat"]),
    default="tubedetr",
    show_default=True,
    help="Evaluation protocol of the report.",
)
@click.option(
    "--retries",
    type=click.IntRange(0),
    default=2,
    show_default=True,
    help="Extra attempts per failed query, counted over all runs on --out.",
)
@click.option(
    "--device",
    type=TEXT,
    default="auto",
    show_default=True,
    help="auto, cpu, cuda, cuda:1, ... (local runs).",
)
@click.option(
    "--dtype",
    type=TEXT,
    default="auto",
    show_default=True,
    help="auto (bf16 on CUDA), float32, bfloat16, float16.",
)
def run_command(
    dataset: str,
    annotations: Path,
    videos: Path,
    boxes: Path | None,
    proposals: str | None,
    decompositions: str | None,
    model: str,
    preset: str,
    sets: tuple[str, ...],
    out: Path,
    limit: int | None,
    shard: str | None,
    ray_address: str | None,
    workers: int | None,
    protocol: str,
    retries: int,
    device: str,
    dtype: str,
) -> None:
    """Ground every query of a benchmark split with one model, then evaluate (resumable)."""
    from rich.console import Console
    from tubescope.cli.progress import make_progress
    from tubescope.cli.quiet import quiet_ffmpeg
    from tubescope.integrations.runs import results_table, run_dataset
    from tubescope.integrations.runs.overrides import parse_set_options
    from tubescope.integrations.runs.report import failure_heading, failure_lines
    from tubescope.plural import counted

    overrides = parse_set_options(sets)
    quiet_ffmpeg()
    _quiet_transformers()
    console = Console()
    errors = Console(stderr=True)
    bar = make_progress()
    # the stage ("reading annotations", "loading the model", ...) is a transient line on a
    # terminal, and not printed elsewhere: an error before the model loads is one line
    stage = errors.status("", spinner="dots") if errors.is_terminal else None
    state: dict[str, Any] = {"task": None, "live": False, "stage": False}

    def stop_bar() -> None:
        if state["live"]:  # stopping a bar that never started prints an empty line
            bar.stop()
            state["live"] = False
        if state["stage"] and stage is not None:
            stage.stop()
            state["stage"] = False

    def status(message: str) -> None:
        stop_bar()
        if message == "grounding":
            bar.start()
            state["live"] = True
        elif stage is not None:
            stage.update(f"[dim]{message}...[/dim]")
            stage.start()
            state["stage"] = True

    def progress(done: int, total: int, failed: int) -> None:
        label = "grounding" if not failed else f"grounding ({failed} failed)"
        if state["task"] is None:
            state["task"] = bar.add_task(label, total=total)
        bar.update(state["task"], completed=done, description=label)

    try:
        result = run_dataset(
            dataset,
            annotations,
            videos,
            out,
            model=model,
            preset=preset,
            proposals=proposals,
            decompositions=decompositions,
            boxes=boxes,
            overrides=overrides,
            limit=limit,
            shard=shard,
            retries=retries,
            protocol=protocol,
            ray=ray_address,
            workers=workers,
            device=device,
            dtype=dtype,
            progress=progress,
            status=status,
            command=_canonical_command(),
        )
    except KeyboardInterrupt:
        stop_bar()
        errors.print(
            f"interrupted: rerun the same command to resume (finished queries are kept in {out})"
        )
        sys.exit(EXIT_INTERRUPTED)
    finally:
        stop_bar()
    info = result.summary["run"]
    if result.repaired_bytes:
        errors.print(
            f"[yellow]repaired a torn last line ({result.repaired_bytes} bytes) "
            "left by an interrupted run[/yellow]"
        )
    console.print(results_table(result.report, dataset, protocol))
    console.print(
        f"{info['n_predicted']} of {counted(info['n_queries'], 'query', 'queries')} predicted, "
        f"{result.processed} in this run"
        + (
            f"; {counted(info['n_extra_predictions'], 'prediction')} outside this selection not scored"
            if info["n_extra_predictions"]
            else ""
        )
    )
    if result.failed:
        console.print(
            f"[yellow]{failure_heading(len(result.failed))} "
            f"(details: {result.failures_path}):[/yellow]"
        )
        for line in failure_lines(result.failed, 20):
            console.print(line, markup=False)
        if len(result.failed) > 20:
            console.print(f"  ... and {len(result.failed) - 20} more (report.json lists all)")
    if info["n_not_run"]:
        were = "query was" if info["n_not_run"] == 1 else "queries were"
        console.print(
            f"[yellow]{info['n_not_run']} {were} not run (interrupted); "
            "rerun to finish them.[/yellow]"
        )
    console.print(f"report: {result.report_path}")
    summary = result.failure_summary()
    if summary is not None:
        click.echo(f"failed: {summary}", err=True)
        sys.exit(EXIT_QUERIES_FAILED)
