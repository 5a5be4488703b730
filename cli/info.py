"""``tubescope info VIDEO``: print a video's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from tubescope.cli.quiet import quiet_ffmpeg
from tubescope.cli.values import NonEmptyPath


@click.command("info")
@click.argument("video", type=NonEmptyPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as one JSON object.")
def info_command(video: Path, as_json: bool) -> None:
    """Print VIDEO's frame count, frame rate, size, duration and codec.

    The frame count is what FFmpeg decodes (``ffprobe -count_frames``) and the size is in
    display orientation (rotated video as players show it).
    """
    from tubescope.video import Video

    quiet_ffmpeg()
    with Video(video) as opened:
        info = opened.info
        note = opened.backend_note
    if as_json:
        click.echo(json.dumps(info.to_dict()))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    fps = f"{info.fps:.3f}".rstrip("0").rstrip(".")
    rows = [
        ("path", info.path or "<array>"),
        ("frames", str(info.frame_count)),
        ("fps", f"{fps} ({info.fps_fraction})"),
        ("size", f"{info.width}x{info.height}"),
        ("duration", f"{info.duration:.3f} s"),
        ("codec", info.codec or "?"),
        ("container", info.container or "?"),
        ("reader", info.backend if note is None else f"{info.backend} ({note})"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
