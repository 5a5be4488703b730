"""Synthetic benchmark splits written by the tests: official HC-STVG v1/v2 format, and VidSTG.

Videos come from :func:`tubescope.synthetic.make_clip` (moving shapes with exactly known tubes);
the annotation of each video is one of its objects (1-based ``st_frame``, ``bbox`` xywh,
``img_num`` frames, 20-second clips as HC-STVG assumes); proposals are the clips' true tracks in
tubescope's precomputed JSON (``props/<video>.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tubescope.proposals import write_tracks
from tubescope.synthetic import make_clip

FRAMES = 40  # 20 s at 2 fps: HC-STVG's fps = img_num / 20 holds
SIZE = 112


@dataclass
class Dataset:
    root: Path
    annotations: Path
    videos: Path
    proposals: Path
    video_ids: list[str]
    corrupt: str | None


def _xywh(boxes):
    return [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in boxes.tolist()]


def write_hcstvg(root: Path, count: int = 4, *, corrupt: bool = True, version: int = 1) -> Dataset:
    """``count`` good videos (+ one corrupt file when ``corrupt``) and their v1/v2 annotations."""
    videos = root / "videos"
    props = root / "props"
    videos.mkdir(parents=True)
    props.mkdir()
    annotations: dict[str, dict] = {}
    ids = []
    for i in range(count):
        name = f"{i}_clip{i:02d}"
        clip = make_clip(
            videos / f"{name}.mp4",
            width=SIZE,
            height=SIZE,
            num_frames=FRAMES,
            fps=2,
            seed=10 + i,
            num_shapes=2,
        )
        write_tracks(props / f"{name}.json", [o.track for o in clip.objects])
        target = clip.objects[i % len(clip.objects)]
        record = {
            "img_num": FRAMES,
            "st_frame": target.tube.start_frame + 1,
            "bbox": _xywh(target.tube.boxes),
            "st_time": target.tube.start_frame / 2,
            "ed_time": target.tube.end_frame / 2,
        }
        if version == 1:
            record.update(width=SIZE, height=SIZE, caption=target.description)
        else:
            record.update(img_size=[SIZE, SIZE], English=target.description)
        annotations[f"{name}.mp4"] = record
        ids.append(name)
    bad = None
    if corrupt:
        bad = f"{count}_broken"
        (videos / f"{bad}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
        record = {
            "img_num": FRAMES,
            "st_frame": 5,
            "bbox": [[10, 20, 30, 30]] * 10,
            "st_time": 2.0,
            "ed_time": 7.0,
        }
        record.update(width=SIZE, height=SIZE, caption="the red circle moving to the left")
        annotations[f"{bad}.mp4"] = record
        ids.append(bad)
    path = root / ("test.json" if version == 1 else "val_v2.json")
    path.write_text(json.dumps(annotations))
    return Dataset(root, path, videos, props, ids, bad)


def write_vidstg(root: Path) -> Dataset:
    """Two VidOR-layout videos (``video/<group>/<vid>.mp4``), TubeDETR ``{split}.json`` with
    two sentences on one video/segment, one on another segment of it, and one on a second video."""
    videos = root / "video"
    props = root / "props"
    props.mkdir(parents=True)
    entries, trajectories = [], {}
    ids = []
    for n, vid in enumerate(("2401075277", "3802296828")):
        (videos / f"{n:04d}").mkdir(parents=True)
        clip = make_clip(
            videos / f"{n:04d}" / f"{vid}.mp4",
            width=SIZE,
            height=SIZE,
            num_frames=FRAMES,
            fps=10,
            seed=30 + n,
            num_shapes=2,
        )
        write_tracks(props / f"{vid}.json", [o.track for o in clip.objects])
        trajectories[vid] = {
            str(o.track_id): {
                str(f): {"bbox": b} for f, b in zip(o.tube.frames.tolist(), _xywh(o.tube.boxes))
            }
            for o in clip.objects
        }
        segments = [(0, FRAMES - 1), (0, FRAMES - 1), (5, 30)] if n == 0 else [(0, FRAMES - 1)]
        for k, (begin, end) in enumerate(segments):
            obj = clip.objects[k % 2]
            start, stop = obj.tube.span
            entries.append(
                {
                    "original_video_id": vid,
                    "frame_count": FRAMES,
                    "fps": 10,
                    "width": SIZE,
                    "height": SIZE,
                    "start_frame": begin,
                    "end_frame": end,
                    "tube_start_frame": max(start, begin),
                    "tube_end_frame": min(stop, end),
                    "caption": obj.description,
                    "type": "shape",
                    "target_id": obj.track_id,
                    "video_id": len(entries),
                    "qtype": "declarative" if k % 2 == 0 else "interrogative",
                }
            )
        ids.append(vid)
    path = root / "test.json"
    path.write_text(json.dumps({"videos": entries, "trajectories": trajectories}))
    return Dataset(root, path, videos, props, ids, None)


def run_args(ds: Dataset, model, out, *extra: str, videos=None) -> list[str]:
    """``tubescope run`` arguments for ``ds`` (HC-STVG v1, its proposals, rules, 4 frames)."""
    settings = [] if any(e.startswith("num_frames=") for e in extra) else ["--set", "num_frames=4"]
    return [
        "run",
        "--dataset",
        "hcstvg-v1",
        "--annotations",
        str(ds.annotations),
        "--videos",
        str(ds.videos if videos is None else videos),
        "--proposals",
        str(ds.proposals),
        "--decompositions",
        "rules",
        "--model",
        str(model),
        *settings,
        "--out",
        str(out),
        *extra,
    ]


def dying_stub_backend(flag: str):
    """A stub backend whose first encode anywhere kills its process (a Ray worker lost mid-video).

    The first process to create ``flag`` (atomically) dies; every later encode works.
    """
    import os

    from tests.engine.stub_backend import StubBackend

    class Dying(StubBackend):
        def encode(self, frames, frame_indices=None):
            try:
                os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return super().encode(frames, frame_indices)
            os._exit(1)

    return Dying(4, 4, 4)
