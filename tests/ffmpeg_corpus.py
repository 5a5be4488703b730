"""The decode corpus: small files of every kind people have, made with the ``ffmpeg`` binary.

Each file is encoded from a lossless barcode clip (every frame shows its index, see
``tubescope.synthetic``), and its reference is what FFmpeg itself reports and decodes:
``ffprobe -count_frames``, ``best_effort_timestamp`` times, and the RGB frames the ``ffmpeg``
tool outputs (rotation applied, as players show it). Files this FFmpeg cannot make (an encoder
or filter it lacks) are kept as skip reasons naming what is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from tubescope.synthetic import random_shapes, read_barcode, render_frames

FPS = 24
GOP = 24
WIDTH, HEIGHT, FRAMES = 160, 120, 72  # three GOPs
ODD = (641, 359, 24)


def tools_missing() -> str | None:
    """Why the corpus cannot be built here (None when ffmpeg and ffprobe are installed)."""
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (scripts/system-deps.sh installs them)"
    return None


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, timeout=120)


def ffmpeg(*args: str | Path) -> None:
    proc = _run("ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args))
    if proc.returncode:
        raise RuntimeError(f"ffmpeg {' '.join(map(str, args))} failed: {proc.stderr.decode(errors='replace')[-800:]}")


def _listing(kind: str) -> str:
    return _run("ffmpeg", "-hide_banner", f"-{kind}").stdout.decode(errors="replace")


@cache
def passthrough() -> tuple[str, str]:
    """Keep every frame with its own timestamp: ``-fps_mode`` since FFmpeg 5.1, ``-vsync`` before."""
    proc = _run("ffmpeg", "-hide_banner", "-h", "full")
    return ("-fps_mode", "passthrough") if b"-fps_mode" in proc.stdout else ("-vsync", "passthrough")


@dataclass
class Capabilities:
    """What this FFmpeg can make, read from ``ffmpeg -encoders`` and ``-bsfs``."""

    encoders: set[str] = field(default_factory=set)
    bsfs: set[str] = field(default_factory=set)

    @classmethod
    def probe(cls) -> Capabilities:
        encoders = set()
        for line in _listing("encoders").splitlines():
            parts = line.split()
            if len(parts) > 1 and len(parts[0]) == 6 and parts[0].startswith("V"):
                encoders.add(parts[1])
        bsfs = {line.strip() for line in _listing("bsfs").splitlines()[1:] if line.strip()}
        return cls(encoders, bsfs)


@dataclass(frozen=True)
class Reference:
    """What FFmpeg says about one file."""

    count: int
    times: list[float | None]  # best_effort_timestamp_time per frame (None: N/A)
    frames: np.ndarray  # (count, height, width, 3) RGB as the ffmpeg tool outputs them
    rotation: int  # degrees the display matrix asks for (0 when none)


@dataclass(frozen=True)
class CorpusFile:
    name: str
    path: Path
    what: str
    rotation: int = 0

    @cached_property
    def reference(self) -> Reference:
        return reference_of(self.path, self.rotation)

    def barcodes(self, frames: np.ndarray) -> list[int]:
        """Frame indices drawn in ``frames`` (turned back to the coded orientation first)."""
        quarters = -(self.rotation // 90)
        return [read_barcode(np.rot90(frame, quarters) if quarters else frame) for frame in frames]


def reference_of(path: Path, rotation: int) -> Reference:
    listing = json.loads(_run(
        "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
        "stream=nb_read_frames:frame=best_effort_timestamp_time", "-of", "json", str(path),
    ).stdout)
    count = listing["streams"][0]["nb_read_frames"]
    times = [float(f["best_effort_timestamp_time"]) if "best_effort_timestamp_time" in f else None
             for f in listing["frames"]]
    proc = _run("ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", *passthrough(),
                "-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "-")
    if proc.returncode:
        raise RuntimeError(f"ffmpeg cannot decode {path}: {proc.stderr.decode(errors='replace')[-400:]}")
    return Reference(int(count), times, _parse_ppm(proc.stdout), rotation)


def _parse_ppm(data: bytes) -> np.ndarray:
    frames, pos = [], 0
    while pos < len(data):
        fields: list[bytes] = []
        while len(fields) < 4:  # magic, width, height, maxval, separated by whitespace
            while data[pos : pos + 1].isspace():
                pos += 1
            end = pos
            while not data[end : end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
        pos += 1  # the single whitespace byte before the pixels
        width, height = int(fields[1]), int(fields[2])
        size = width * height * 3
        frames.append(np.frombuffer(data[pos : pos + size], np.uint8).reshape(height, width, 3))
        pos += size
    return np.stack(frames)


def _master(root: Path, width: int, height: int, frames: int) -> list[str]:
    """ffmpeg input arguments for a lossless raw RGB barcode clip of this size."""
    path = root / f"master_{width}x{height}.rgb"
    shapes = random_shapes(2, width, height, frames, seed=3)
    with path.open("wb") as sink:
        for image in render_frames(shapes, width, height, frames, background_seed=3):
            sink.write(image.tobytes())
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS), "-i", str(path)]


X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", str(GOP), "-bf", "2", "-sc_threshold", "0"]


@dataclass(frozen=True)
class Recipe:
    name: str
    filename: str
    what: str
    needs: tuple[str, ...]  # encoders (or "bsf:NAME")
    build: Callable[[Path, dict[str, list[str]], Path], None]  # (out, masters, base mp4)
    rotation: int = 0


PASSTHROUGH = "<keep every frame's timestamp>"  # expanded by passthrough() when a file is built


def _from_master(*args: str, size: str = "small") -> Callable[[Path, dict[str, list[str]], Path], None]:
    def build(out: Path, masters: dict[str, list[str]], base: Path) -> None:
        expanded = [part for arg in args for part in (passthrough() if arg == PASSTHROUGH else (arg,))]
        ffmpeg(*masters[size], *expanded, out)

    return build


def _from_base(*args: str, before: tuple[str, ...] = ()) -> Callable[[Path, dict[str, list[str]], Path], None]:
    return lambda out, masters, base: ffmpeg(*before, "-i", base, "-c", "copy", *args, out)


def _av1(out: Path, masters: dict[str, list[str]], base: Path, encoder: str) -> None:
    options = {
        "libsvtav1": ["-preset", "12"],
        "libaom-av1": ["-cpu-used", "8", "-row-mt", "1", "-usage", "realtime"],
        "librav1e": ["-speed", "10"],
    }[encoder]
    ffmpeg(*masters["small"], "-c:v", encoder, *options, "-g", str(GOP), "-crf", "35", "-pix_fmt", "yuv420p", out)


def _joined_late(source: Recipe) -> Callable[[Path, dict[str, list[str]], Path], None]:
    """A transport stream that starts mid-GOP, as a recording joined late does: ``source``'s
    file with its first 40% cut away at a 188-byte TS packet boundary."""

    def build(out: Path, masters: dict[str, list[str]], base: Path) -> None:
        whole = out.with_name("whole_" + source.filename)
        source.build(whole, masters, base)
        data = whole.read_bytes()
        cut = (len(data) * 2 // 5) // 188 * 188
        out.write_bytes(data[cut:])

    return build


def _rotation_of(path: Path) -> str:
    return _run("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream_side_data=rotation",
                "-of", "default=nw=1:nk=1", str(path)).stdout.decode().strip()


def _rotated(out: Path, base: Path) -> None:
    """A display matrix asking players to turn the picture 90 degrees (FFmpeg 5 takes the
    ``rotate`` tag, FFmpeg 6.1 and later the ``-display_rotation`` input option)."""
    ffmpeg("-i", base, "-c", "copy", "-metadata:s:v:0", "rotate=90", out)
    if _rotation_of(out) not in ("90", "-90"):
        ffmpeg("-display_rotation:v:0", "90", "-i", base, "-c", "copy", out)


TS_H264 = Recipe("ts_h264", "h264.ts", "MPEG-TS stream copy (ffmpeg -i in.mp4 -c copy -f mpegts)",
                 ("libx264",), _from_base("-f", "mpegts"))
TS_MPEG2 = Recipe("ts_mpeg2", "mpeg2.ts", "MPEG-TS, MPEG-2 video with B-frames (open GOP)",
                  ("mpeg2video",), _from_master("-c:v", "mpeg2video", "-q:v", "3", "-bf", "2", "-g", "12", "-f", "mpegts"))

RECIPES: tuple[Recipe, ...] = (
    Recipe("mp4_h264", "h264.mp4", "MP4, H.264 with B-frames (the base the stream copies come from)",
           ("libx264",), lambda out, masters, base: shutil.copyfile(base, out)),
    TS_H264,
    TS_MPEG2,
    Recipe("ts_h264_joined_late", "h264_joined_late.ts", "MPEG-TS (H.264) starting mid-GOP, cut at a TS packet",
           ("libx264",), _joined_late(TS_H264)),
    Recipe("ts_mpeg2_joined_late", "mpeg2_joined_late.ts",
           "MPEG-TS (MPEG-2) starting mid-GOP: open-GOP leading pictures without references",
           ("mpeg2video",), _joined_late(TS_MPEG2)),
    Recipe("ps_mpeg2", "mpeg2.mpg", "MPEG program stream, MPEG-2 video",
           ("mpeg2video",), _from_master("-c:v", "mpeg2video", "-q:v", "3", "-bf", "2", "-g", "12", "-f", "mpeg")),
    Recipe("mp4_trimmed", "trimmed.mp4", "MP4 stream-copy trim at a non-keyframe (edit list, negative pts)",
           ("libx264",), _from_base(before=("-ss", "1.3"))),
    Recipe("mp4_open_gop", "open_gop.mp4", "MP4, H.264 open GOP, 3 B-frames",
           ("libx264",), _from_master("-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-x264-params",
                                      f"keyint={GOP}:min-keyint={GOP}:open-gop=1:scenecut=0")),
    Recipe("mp4_fragmented", "fragmented.mp4", "fragmented MP4 (moof boxes, empty moov)",
           ("libx264",), _from_base("-movflags", "frag_keyframe+empty_moov+default_base_moof")),
    Recipe("mkv_h264", "h264.mkv", "Matroska, H.264 stream copy", ("libx264",), _from_base()),
    Recipe("mkv_vp9", "vp9.mkv", "Matroska, VP9",
           ("libvpx-vp9",), _from_master("-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "35", "-deadline", "realtime",
                                         "-cpu-used", "8", "-g", str(GOP))),
    Recipe("webm_vp9", "vp9.webm", "WebM, VP9 with hidden alt-ref frames",
           ("libvpx-vp9",), _from_master("-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "35", "-deadline", "good",
                                         "-cpu-used", "5", "-auto-alt-ref", "1", "-lag-in-frames", "16",
                                         "-g", str(GOP))),
    Recipe("webm_av1", "av1.webm", "WebM, AV1", ("av1",), lambda out, masters, base: None),
    Recipe("mov_h264", "h264.mov", "QuickTime MOV, H.264 stream copy", ("libx264",), _from_base()),
    Recipe("avi_mjpeg", "mjpeg.avi", "AVI, Motion JPEG",
           ("mjpeg",), _from_master("-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p")),
    Recipe("avi_h264", "h264.avi", "AVI, H.264 with B-frames (packets carry no pts)", ("libx264",), _from_base()),
    Recipe("mp4_hevc", "hevc.mp4", "MP4, HEVC with B-frames and open GOP (CRA)",
           ("libx265",), _from_master("-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params",
                                      f"keyint={GOP}:min-keyint={GOP}:bframes=3:scenecut=0:log-level=error")),
    Recipe("webm_odd_641x359", "odd_641x359.webm", "odd frame size 641x359 (VP9)",
           ("libvpx-vp9",), _from_master("-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "30", "-deadline", "realtime",
                                         "-cpu-used", "8", size="odd")),
    Recipe("mkv_yuv420p10le", "10bit.mkv", "10-bit 4:2:0 (yuv420p10le, H.264 High 10)",
           ("libx264",), _from_master(*X264, "-pix_fmt", "yuv420p10le")),
    Recipe("mp4_yuv444p", "yuv444p.mp4", "4:4:4 chroma (yuv444p, H.264 High 4:4:4)",
           ("libx264",), _from_master(*X264, "-pix_fmt", "yuv444p")),
    Recipe("mp4_rotated_90", "rotated_90.mp4", "display matrix: rotate 90 degrees (phone portrait)",
           ("libx264",), lambda out, masters, base: _rotated(out, base), rotation=90),
    Recipe("mp4_vfr", "vfr.mp4", "variable frame rate (irregular gaps, B-frames, 1 ms clock)",
           ("libx264",), _from_master("-vf", "settb=1/1000,setpts=(N*1000/24+gte(N\\,30)*400+mod(N\\,5)*9)/1000/TB",
                                      PASSTHROUGH, "-enc_time_base:v", "1/1000",
                                      "-video_track_timescale", "1000", *X264)),
    Recipe("mp4_repeated_pts", "repeated_pts.mp4",
           "MP4 whose packets repeat timestamps (irregular times squeezed into a 1/24 s clock)",
           ("libx264",), _from_master("-vf", "settb=1/1000,setpts=(N*1000/24+mod(N\\,5)*9)/1000/TB",
                                      PASSTHROUGH, *X264)),
    Recipe("ts_missing_pts", "missing_pts.ts", "MPEG-TS whose packets 1-4 carry no pts",
           ("libx264", "bsf:setts"), _from_base("-bsf:v", "setts=pts='if(between(N,1,4),NOPTS,PTS)'", "-f", "mpegts")),
    Recipe("mkv_start_offset", "offset.mkv", "start time 10 s (-output_ts_offset 10)",
           ("libx264",), _from_base("-output_ts_offset", "10")),
    Recipe("mp4_start_offset", "offset.mp4", "MP4 with start time 10 s (-output_ts_offset 10)",
           ("libx264",), _from_base("-output_ts_offset", "10")),
)

AV1_ENCODERS = ("libsvtav1", "libaom-av1", "librav1e")


def build(root: Path) -> dict[str, CorpusFile | str]:
    """Make every file of :data:`RECIPES` under ``root``; a value is a skip reason when this
    FFmpeg cannot make that file."""
    caps = Capabilities.probe()
    masters = {"small": _master(root, WIDTH, HEIGHT, FRAMES), "odd": _master(root, *ODD)}
    base = root / "base.mp4"
    if "libx264" in caps.encoders:
        ffmpeg(*masters["small"], *X264, "-pix_fmt", "yuv420p", base)
    corpus: dict[str, CorpusFile | str] = {}
    for recipe in RECIPES:
        out = root / recipe.filename
        builder = recipe.build
        if recipe.name == "webm_av1":
            encoder = next((e for e in AV1_ENCODERS if e in caps.encoders), None)
            if encoder is None:
                corpus[recipe.name] = f"this FFmpeg has no AV1 encoder (looked for {', '.join(AV1_ENCODERS)})"
                continue
            builder = lambda out, masters, base, encoder=encoder: _av1(out, masters, base, encoder)  # noqa: E731
        lacking = [n for n in recipe.needs if n != "av1" and (n[4:] not in caps.bsfs if n.startswith("bsf:")
                                                              else n not in caps.encoders)]
        if lacking:
            corpus[recipe.name] = f"this FFmpeg lacks {', '.join(n.replace('bsf:', 'the bitstream filter ') for n in lacking)}"
            continue
        builder(out, masters, base)
        corpus[recipe.name] = CorpusFile(recipe.name, out, recipe.what, recipe.rotation)
    return corpus
