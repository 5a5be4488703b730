"""``tubescope synth OUT``: write a synthetic clip of moving shapes and its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("synth")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--frames", "num_frames", default=150, show_default=True, help="Number of frames.")
@click.option("--fps", default=30.0, show_default=True, help="Frame rate.")
@click.option("--size", default="640x360", show_default=True, help="WIDTHxHEIGHT (even numbers).")
@click.option("--shapes", "num_shapes", default=3, show_default=True, help="Number of moving shapes.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the scene.")
@click.option("--codec", type=click.Choice(["h264", "mpeg4", "vp9"]), default="h264", show_default=True)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the ground truth (a description and a Tube per object) to this JSON file.",
)
def synth_command(
    out: Path, num_frames: int, fps: float, size: str, num_shapes: int, seed: int, codec: str, truth: Path | None
) -> None:
    """Write OUT, a clip of moving coloured shapes with known ground-truth tubes."""
    from tubescope.synthetic import make_clip

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, got {size!r}", param_hint="--size") from None
    try:
        clip = make_clip(
            out, width=width, height=height, num_frames=num_frames, fps=fps, num_shapes=num_shapes, seed=seed, codec=codec
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    objects = [{"description": o.description, "tube": o.tube.to_dict()} for o in clip.objects]
    if truth is not None:
        truth.write_text(json.dumps({"video": str(out), "objects": objects}, indent=1))
    click.echo(f"wrote {out} ({num_frames} frames, {width}x{height}, {fps:g} fps)")
    for obj in clip.objects:
        start, end = obj.tube.span
        click.echo(f"  {obj.description}: frames [{start}, {end})")
