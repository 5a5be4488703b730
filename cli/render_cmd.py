"""``tubescope render VIDEO RESULT.json -o OUT.mp4``: draw grounding results on the video."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tubescope.cli.preflight import video_output_file
from tubescope.cli.progress import frame_progress
from tubescope.cli.quiet import quiet_ffmpeg
from tubescope.cli.values import NonEmptyPath
from tubescope.errors import ValidationError


def read_results(path: Path) -> list:
    """GroundingResult objects from a JSON object, a JSON list, or JSON lines."""
    from tubescope.jsonio import iter_jsonl, read_text
    from tubescope.types import GroundingResult

    text = read_text(path, lambda problem: ValidationError(problem, str(path)))
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        items = []
        for number, line in iter_jsonl(text):
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValidationError(f"not JSON or JSON lines (line {number}: {err.msg})", str(path)) from None
    results = []
    for k, item in enumerate(items):
        try:
            results.append(GroundingResult.from_dict(item))
        except ValidationError as err:
            raise ValidationError(f"entry {k} is not a GroundingResult ({err})", str(path)) from None
    if not results:
        raise ValidationError("holds no result", str(path))
    return results


@click.command("render")
@click.argument("video", type=NonEmptyPath(path_type=Path))
@click.argument("result", type=NonEmptyPath(path_type=Path))
@click.option("-o", "--out", type=NonEmptyPath(dir_okay=False, path_type=Path), required=True,
              help="Output video (H.264 .mp4, .mkv, .mov or .m4v).")
@click.option("--no-heatmap", is_flag=True, help="Do not overlay attention maps even when the result has them.")
@click.option("--force", is_flag=True, help="Draw results whose 'video' field names another file.")
def render_command(video: Path, result: Path, out: Path, no_heatmap: bool, force: bool) -> None:
    """Draw the tubes of RESULT (a GroundingResult JSON, list or JSONL) on VIDEO."""
    from tubescope.render import render_result, video_mismatch
    from tubescope.video import Video

    quiet_ffmpeg()
    video_output_file(out, "--out")
    results = read_results(result)
    with Video(video) as opened:
        for k, item in enumerate(results):
            mismatch = None if force else video_mismatch(item, opened)
            if mismatch is not None:
                where = f"{result}" if len(results) == 1 else f"{result} entry {k}"
                raise ValidationError(f"{mismatch}; pass --force to draw it anyway", where)
        with frame_progress("render", opened.frame_count) as advance:
            try:
                render_result(opened, results, out, heatmap=not no_heatmap, progress=advance, force=True)
            except ValidationError as err:
                raise ValidationError(f"{err} — does {result} belong to {video}?") from None
    from tubescope.plural import counted

    click.echo(f"wrote {out} ({counted(opened.frame_count, 'frame')}, {opened.width}x{opened.height})")
