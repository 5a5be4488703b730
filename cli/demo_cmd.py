"""``tubescope demo``: the whole pipeline offline, on a synthetic clip with a tiny random model."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from tubescope.cli.choices import tiny_family_choice
from tubescope.cli.quiet import quiet_ffmpeg
from tubescope.cli.values import NonEmptyPath


@click.command("demo")
@click.option("--out", "out_dir", type=NonEmptyPath(file_okay=False, path_type=Path), default=Path("tubescope-demo"),
              show_default=True, help="Directory for the clip, model, result, rendering and report.")
@click.option("--family", type=tiny_family_choice(), default="qwen2-vl", show_default=True,
              help="Model family of the tiny random model (the registered families).")
def demo_command(out_dir: Path, family: str) -> None:
    """Ground a query end to end offline (synthetic clip, tiny RANDOM model: meaningless output)."""
    from tubescope.demo import RANDOM_MODEL_NOTICE, run_demo
    from tubescope.durable import check_writable

    check_writable(out_dir, "--out", folder=True)
    quiet_ffmpeg()
    console = Console(stderr=True)
    with console.status("demo...") as status:
        outputs = run_demo(out_dir, family=family, progress=lambda stage: status.update(f"{stage}..."))
    result = outputs.result
    click.echo(f"query:        {outputs.query}")
    click.echo(f"result:       {result}")
    click.echo(f"rendering:    {outputs.annotated}")
    click.echo(f"evaluation:   {outputs.report} (m_tIoU {outputs.m_tIoU:.3f}, m_vIoU {outputs.m_vIoU:.3f})")
    click.echo(f"clip + truth: {outputs.clip}, {outputs.ground_truth}")
    click.echo("")
    click.echo(RANDOM_MODEL_NOTICE)
