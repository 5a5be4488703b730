"""``tubescope ground VIDEO QUERY...``: ground one or more queries on a video.

Everything that needs no model is checked before the model loads, each failure one line
naming the flag: the queries, the video (exists, decodes, has the frames ``--frames`` asks
for), ``--model`` (its ``config.json``), ``--device``, ``--proposals`` (the spec, and a
precomputed file's content against the video), ``--decomposer`` (a decomposition file is read)
and the ``--out`` / ``--render`` paths (missing folders are created when writing). The result
is written atomically: a reader sees the old file or the whole new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tubescope.cli.choices import dataset_choice
from tubescope.cli.preflight import device_value, enough_frames, flagged, model_family, video_output_file
from tubescope.cli.progress import frame_progress
from tubescope.cli.quiet import quiet_ffmpeg
from tubescope.cli.values import TEXT, NonEmptyPath
from tubescope.errors import TubescopeError, ValidationError

DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"


@click.command("ground")
@click.argument("video", type=NonEmptyPath(path_type=Path))
@click.argument("queries", nargs=-1, required=True)
@click.option("--model", type=TEXT, default=DEFAULT_MODEL, show_default=True,
              help="Model id (from the Hugging Face cache) or a local checkpoint directory.")
@click.option("--preset", type=click.Choice(["default", "paper"]), default="default", show_default=True,
              help="'paper' reproduces the official per-backbone configuration.")
@click.option("--dataset", type=dataset_choice(), default=None,
              help="With --preset paper: the official temporal window of this dataset.")
@click.option("--proposals", "proposals", type=TEXT, default=None,
              help="Candidate tracks: precomputed:PATH, detector:grounding-dino, detector:owlv2 or attention "
                   "(default: attention).")
@click.option("--decomposer", type=TEXT, default=None, help="rules, mllm, or a precomputed decomposition JSON.")
@click.option("--frames", "num_frames", type=click.IntRange(1), default=None, help="Frames shown to the model.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Change one GrounderConfig field of the preset, e.g. --set tas=false, --set lra_steps=0 "
                   "(checked against the field's type and range). Repeatable.")
@click.option("--device", type=TEXT, default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=None,
              help="Write the GroundingResult JSON here (a list when several queries are given).")
@click.option("--render", "render_to", type=NonEmptyPath(dir_okay=False, path_type=Path), default=None,
              help="Also write an annotated H.264 video here (.mp4, .mkv, .mov or .m4v).")
@click.option("--maps", is_flag=True, help="Keep the attention maps in the result (and the rendering).")
def ground_command(
    video: Path,
    queries: tuple[str, ...],
    model: str,
    preset: str,
    dataset: str | None,
    proposals: str | None,
    decomposer: str | None,
    num_frames: int | None,
    sets: tuple[str, ...],
    device: str,
    out: Path | None,
    render_to: Path | None,
    maps: bool,
) -> None:
    """Find where and when each QUERY happens in VIDEO (the video is encoded once for all)."""
    from tubescope.decompose import check_query
    from tubescope.durable import atomic_write_text, check_writable
    from tubescope.engine.config import preset as make_preset
    from tubescope.grounder import Grounder
    from tubescope.integrations.runs.overrides import parse_set_options
    from tubescope.video import Video

    quiet_ffmpeg()
    # ---- everything cheap first: nothing below loads a model until the inputs are known good
    texts = [check_query(q) for q in queries]
    overrides = parse_set_options(sets)  # a bad --set fails before the model loads
    if dataset is not None and preset != "paper":
        raise ValidationError("only applies with --preset paper", f"--dataset {dataset}")
    if out is not None:
        check_writable(out, "--out")
    if render_to is not None:
        video_output_file(render_to, "--render")
    if out is not None and render_to is not None and out.resolve() == render_to.resolve():
        raise ValidationError("is also the --out path", f"--render {render_to}")
    opened = Video(video)
    if num_frames is not None:  # before --model, which may mean a download
        enough_frames(opened, num_frames, "--frames", True)
    device_value(device)
    source = _proposals(proposals, opened)
    parts = _decomposer(decomposer)
    family = model_family(model)  # config.json only (a hub id is fetched, as loading would)
    if parts == "mllm":
        _can_generate(family)
    config = make_preset(preset, family, dataset=dataset)
    if num_frames is not None:
        config = config.replace(num_frames=num_frames)
    config = config.replace(**overrides)
    enough_frames(opened, config.num_frames, "--frames", num_frames is not None or "num_frames" in overrides)
    # ---- the expensive part
    console = Console(stderr=True)
    with console.status("loading model...") as status:
        grounder = Grounder(model, proposals=source, decomposer=parts, config=config, device=device)

        def stage(name: str) -> None:
            status.update(f"{name}...")

        results = grounder.ground_many(opened, texts, return_maps=maps, progress=stage)
    if out is not None:
        payload = results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results]
        atomic_write_text(out, json.dumps(payload))
    _summary(results, opened, Console())
    if config.sample_frames == "proposals" and any(r.meta.get("sampled_over") == "video" for r in results):
        console.print(
            "note: frames were sampled over the video, not over proposal frames (sample_frames): "
            f"the {proposals or 'attention'} proposals have none before grounding"
        )
    if render_to is not None:
        from tubescope.render import render_result

        with frame_progress("render", opened.frame_count) as advance:
            render_result(opened, results, render_to, progress=advance)
        click.echo(f"wrote {render_to}")
    if out is not None:
        click.echo(f"wrote {out}")


def _can_generate(family: str) -> None:
    """``--decomposer mllm`` needs a model family that generates text."""
    from tubescope.engine.backends.families import adapter_class

    if not callable(getattr(adapter_class(family), "generate_text", None)):
        raise ValidationError(
            f"{family} models cannot generate text here, so they cannot decompose queries; "
            "use --decomposer rules or a decomposition JSON file",
            "--decomposer mllm",
        )


def _proposals(spec: str | None, video: Any) -> Any:
    """The proposal source of ``--proposals``; a precomputed file is read and checked now."""
    from tubescope.proposals import PrecomputedProposals, check_tracks_fit_video, resolve_proposals

    if spec is None:
        return "attention"
    try:
        source = resolve_proposals(spec)
        if isinstance(source, PrecomputedProposals):  # cached: grounding reads it no more
            check_tracks_fit_video(source.tracks(video), video, source.name)
    except TubescopeError as err:
        raise flagged(err, "--proposals") from None
    return source


def _decomposer(value: str | None) -> Any:
    """``--decomposer`` as the grounder takes it; a decomposition file is read now."""
    from tubescope.decompose import PrecomputedDecomposer

    if value is None or value in ("rules", "mllm"):
        return value
    try:
        return PrecomputedDecomposer(Path(value))
    except TubescopeError as err:
        raise flagged(err, "--decomposer") from None


def _summary(results: list, video, console: Console) -> None:
    from tubescope.plural import counted

    table = Table(title=f"{video.path} ({counted(video.frame_count, 'frame')}, {float(video.fps):.3g} fps)")
    for column in ("query", "span (s)", "frames", "track", "confidence"):
        table.add_column(column)
    for result in results:
        tube = result.tube
        if tube is None:
            table.add_row(result.query, "-", "-", "-", "no candidate object")
            continue
        seconds = f"{tube.start_time:.2f}-{tube.end_time:.2f}" if tube.start_time is not None else "?"
        confidence = "-" if tube.score is None else f"{tube.score:.2f}"
        table.add_row(result.query, seconds, f"[{tube.start_frame}, {tube.end_frame})", str(result.track_id), confidence)
    console.print(table)
