"""``tubescope synth OUT``: write a synthetic clip of moving shapes and its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tubescope.cli.values import NonEmptyPath, TEXT


def _size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    """``--size WIDTHxHEIGHT``: two even positive numbers (H.264 needs even sizes)."""
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, e.g. 640x360, got {value!r}") from None
    if width % 2 or height % 2 or width < 96 or height < 32:
        raise click.BadParameter(f"{value}: width and height must be even, at least 96x32")
    return width, height


@click.command("synth")
@click.argument("out", type=NonEmptyPath(dir_okay=False, path_type=Path))
@click.option("--frames", "num_frames", type=click.IntRange(1), default=150, show_default=True,
              help="Number of frames.")
@click.option("--fps", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True, help="Frame rate.")
@click.option("--size", type=TEXT, default="640x360", show_default=True, callback=_size,
              help="WIDTHxHEIGHT (even numbers).")
@click.option("--shapes", "num_shapes", type=click.IntRange(1, 8), default=3, show_default=True,
              help="Number of moving shapes (one per colour).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the scene.")
@click.option("--codec", type=click.Choice(["h264", "mpeg4", "vp9"]), default="h264", show_default=True)
@click.option(
    "--truth",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    help="Write the ground truth (a description and a Tube per object) to this JSON file.",
)
def synth_command(
    out: Path, num_frames: int, fps: float, size: tuple[int, int], num_shapes: int, seed: int, codec: str,
    truth: Path | None,
) -> None:
    """Write OUT, a clip of moving coloured shapes with known ground-truth tubes."""
    from tubescope.durable import atomic_write_text, check_writable
    from tubescope.errors import ValidationError
    from tubescope.plural import counted
    from tubescope.synthetic import make_clip

    width, height = size
    check_writable(out, "OUT")
    if truth is not None:
        check_writable(truth, "--truth")
    try:
        clip = make_clip(
            out, width=width, height=height, num_frames=num_frames, fps=fps, num_shapes=num_shapes, seed=seed, codec=codec
        )
    except ValidationError as err:  # the random scene does not fit these settings
        raise ValidationError(f"{err.problem}; try another --seed or a larger --size/--frames") from None
    objects = [{"description": o.description, "tube": o.tube.to_dict()} for o in clip.objects]
    if truth is not None:
        atomic_write_text(truth, json.dumps({"video": str(out), "objects": objects}, indent=1))
    click.echo(f"wrote {out} ({counted(num_frames, 'frame')}, {width}x{height}, {fps:g} fps)")
    for obj in clip.objects:
        start, end = obj.tube.span
        click.echo(f"  {obj.description}: frames [{start}, {end})")
