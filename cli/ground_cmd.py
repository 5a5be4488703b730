"""``tubescope ground VIDEO QUERY...``: ground one or more queries on a video."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from tubescope.cli.progress import frame_progress
from tubescope.cli.quiet import quiet_ffmpeg

DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"


@click.command("ground")
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True)
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Model id (from the Hugging Face cache) or a local checkpoint directory.")
@click.option("--preset", type=click.Choice(["default", "paper"]), default="default", show_default=True,
              help="'paper' reproduces the official per-backbone configuration.")
@click.option("--dataset", type=click.Choice(["hcstvg-v1", "hcstvg-v2", "vidstg"]), default=None,
              help="With --preset paper: the official temporal window of this dataset.")
@click.option("--proposals", "proposals", default=None,
              help="Candidate tracks: precomputed:PATH, detector:grounding-dino, detector:owlv2 or attention "
                   "(default: attention).")
@click.option("--decomposer", default=None, help="rules, mllm, or a precomputed decomposition JSON.")
@click.option("--frames", "num_frames", type=click.IntRange(1), default=None, help="Frames shown to the model.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Change one GrounderConfig field of the preset, e.g. --set tas=false, --set lra_steps=0 "
                   "(checked against the field's type and range). Repeatable.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the GroundingResult JSON here (a list when several queries are given).")
@click.option("--render", "render_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write an annotated H.264 video here.")
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
    from tubescope.engine.backends import detect_family
    from tubescope.engine.config import preset as make_preset
    from tubescope.grounder import Grounder
    from tubescope.integrations.runs.overrides import parse_set_options
    from tubescope.video import Video

    quiet_ffmpeg()
    texts = [check_query(q) for q in queries]
    overrides = parse_set_options(sets)  # a bad --set fails before the model loads
    opened = Video(video)  # fail on a bad video before loading a model
    console = Console(stderr=True)
    with console.status("loading model...") as status:
        config = make_preset(preset, detect_family(model), dataset=dataset)
        if num_frames is not None:
            config = config.replace(num_frames=num_frames)
        config = config.replace(**overrides)
        grounder = Grounder(model, proposals=proposals or "attention", decomposer=decomposer, config=config,
                            device=device)

        def stage(name: str) -> None:
            status.update(f"{name}...")

        results = grounder.ground_many(opened, texts, return_maps=maps, progress=stage)
    if out is not None:
        payload = results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results]
        out.write_text(json.dumps(payload))
    _summary(results, opened, Console())
    if render_to is not None:
        from tubescope.render import render_result

        with frame_progress("render", opened.frame_count) as advance:
            render_result(opened, results, render_to, progress=advance)
        click.echo(f"wrote {render_to}")
    if out is not None:
        click.echo(f"wrote {out}")


def _summary(results: list, video, console: Console) -> None:
    table = Table(title=f"{video.path} ({video.frame_count} frames, {float(video.fps):.3g} fps)")
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
