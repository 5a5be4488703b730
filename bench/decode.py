"""Benchmark: fetch 20 uniformly sampled frames from a 1-minute 640x360 H.264 clip.

Compares tubescope's reader (its PyAV path, and decord batch access) with OpenCV
seek-per-frame (``cap.set(CAP_PROP_POS_FRAMES, i); cap.read()``), each from opening the file
to having all frames in memory; and tubescope on the same packets stream-copied into MPEG-TS,
where FFmpeg's seeks land late and the reader demuxes forward from an earlier keyframe. Every frame is checked against the index barcode drawn by the
synthetic generator, so a fast-but-wrong reader cannot win. Prints a table of ratios and
writes ``bench/results/decode.json``.

    python bench/decode.py [--repeats 5] [--frames 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from tubescope._version import __version__
from tubescope.synthetic import make_clip, read_barcode
from tubescope.video import Video, uniform_indices

RESULTS = Path(__file__).parent / "results"


def clip_path() -> Path:
    """The 60 s, 640x360, 30 fps H.264 test clip (generated once, then reused)."""
    path = RESULTS / "clip_60s_640x360.mp4"
    if not path.exists():
        RESULTS.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} (1800 frames)...", flush=True)
        make_clip(path, width=640, height=360, num_frames=1800, fps=30, num_shapes=4, seed=0)
    return path


def ts_copy(mp4: Path) -> Path:
    """The clip's packets stream-copied into MPEG-TS (like ``ffmpeg -i in.mp4 -c copy -f mpegts``)."""
    import av

    path = mp4.with_suffix(".ts")
    if not path.exists():
        with av.open(str(mp4)) as source, av.open(str(path), "w", format="mpegts") as sink:
            video = source.streams.video[0]
            out = sink.add_stream_from_template(video)
            for packet in source.demux(video):
                if packet.dts is None:
                    continue
                packet.stream = out
                sink.mux(packet)
    return path


def ours(path: Path, indices: np.ndarray, backend: str) -> np.ndarray:
    with Video(path, backend=backend) as video:
        return video.get_frames(indices)


def opencv_seek(path: Path, indices: np.ndarray) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    for index in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = cap.read()
        if not ok:
            raise RuntimeError(f"OpenCV could not read frame {index}")
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames)


def measure(fn, indices: np.ndarray, repeats: int) -> dict:
    times, wrong = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        frames = fn(indices)
        times.append(time.perf_counter() - start)
        wrong = sum(read_barcode(f) != i for f, i in zip(frames, indices))
    return {"median_s": statistics.median(times), "min_s": min(times), "wrong_frames": int(wrong)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()

    import cv2

    cv2.setNumThreads(2)
    path = clip_path()
    ts = ts_copy(path)
    indices = uniform_indices(args.frames, 0, 1800)
    readers = {
        "tubescope (pyav)": lambda idx: ours(path, idx, "pyav"),
        "tubescope (decord)": lambda idx: ours(path, idx, "decord"),
        "opencv seek-per-frame": lambda idx: opencv_seek(path, idx),
        "tubescope (pyav), .ts": lambda idx: ours(ts, idx, "pyav"),
    }
    for fn in readers.values():  # warm the page cache and the imports
        fn(indices[:2])
    rows = {name: measure(fn, indices, args.repeats) for name, fn in readers.items()}
    baseline = rows["opencv seek-per-frame"]["median_s"]

    print(f"\n{args.frames} uniformly sampled frames of a 60 s 640x360 H.264 clip (median of {args.repeats})")
    print(f"{'reader':<26}{'time (ms)':>11}{'speed-up vs opencv':>21}{'wrong frames':>14}")
    for name, row in rows.items():
        row["speedup_vs_opencv"] = baseline / row["median_s"]
        print(f"{name:<26}{row['median_s'] * 1000:>11.1f}{row['speedup_vs_opencv']:>20.2f}x{row['wrong_frames']:>14}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "decode.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "decode",
                "clip": {"seconds": 60, "width": 640, "height": 360, "fps": 30, "codec": "h264"},
                "frames": args.frames,
                "repeats": args.repeats,
                "results": rows,
                "tubescope": __version__,
                "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
            },
            indent=2,
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
