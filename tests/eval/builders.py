"""Fixture builders for the evaluator tests: raw annotation dicts/files and predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def xyxy_to_xywh(boxes: np.ndarray) -> list[list[float]]:
    b = np.asarray(boxes, dtype=np.float64)
    return np.column_stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]]).tolist()


def random_walk_boxes(
    rng: np.random.Generator, n: int, w: int = 640, h: int = 360, integer: bool = False
) -> np.ndarray:
    """n xyxy boxes drifting smoothly; sometimes degenerate (zero width or height)."""
    x, y = rng.uniform(0, w * 0.6), rng.uniform(0, h * 0.6)
    bw, bh = rng.uniform(5, w * 0.4), rng.uniform(5, h * 0.4)
    steps = rng.normal(0, 2.0, (n, 4)).cumsum(axis=0)
    x1 = x + steps[:, 0]
    y1 = y + steps[:, 1]
    x2 = x1 + np.abs(bw + steps[:, 2])
    y2 = y1 + np.abs(bh + steps[:, 3])
    boxes = np.column_stack([x1, y1, x2, y2])
    if integer:
        boxes = np.round(boxes)
    if n and rng.random() < 0.1:  # a degenerate frame
        k = int(rng.integers(n))
        boxes[k, 2] = boxes[k, 0]
    return boxes


def hcstvg_raw_record(
    frame_count: int,
    st_frame: int,
    boxes_xyxy: np.ndarray,
    caption: str = "a person walks",
    v2: bool = False,
    size: tuple[int, int] = (640, 360),
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "img_num": frame_count,
        "st_frame": st_frame,
        "bbox": xyxy_to_xywh(boxes_xyxy),
        "st_time": st_frame / (frame_count / 20),
        "ed_time": (st_frame + len(boxes_xyxy)) / (frame_count / 20),
    }
    if v2:
        rec["img_size"] = [size[1], size[0]]
        rec["English"] = caption
    else:
        rec["width"], rec["height"] = size
        rec["caption"] = caption
    return rec


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def vidor_file(frame_count: int, tracks: dict[int, dict[int, list[float]]]) -> dict[str, Any]:
    """A VidOR per-video json: tracks = {tid: {frame: [xmin, ymin, xmax, ymax]}}."""
    trajectories: list[list[dict[str, Any]]] = [[] for _ in range(frame_count)]
    for tid, frames in tracks.items():
        for frame, (x1, y1, x2, y2) in frames.items():
            trajectories[frame].append(
                {
                    "tid": tid,
                    "bbox": {"xmin": x1, "ymin": y1, "xmax": x2, "ymax": y2},
                    "generated": 0,
                    "tracker": "none",
                }
            )
    return {
        "video_id": "x",
        "frame_count": frame_count,
        "fps": 30,
        "width": 640,
        "height": 480,
        "subject/objects": [{"tid": t, "category": "adult"} for t in tracks],
        "trajectories": trajectories,
        "relation_instances": [],
    }


def vidstg_entry(
    vid: str,
    fps: float,
    frame_count: int,
    segment: tuple[int, int],
    gt: tuple[int, int],
    captions: list[tuple[str, int]],
    questions: list[tuple[str, int]],
) -> dict[str, Any]:
    return {
        "vid": vid,
        "fps": fps,
        "frame_count": frame_count,
        "width": 640,
        "height": 480,
        "subject/objects": [],
        "used_segment": {"begin_fid": segment[0], "end_fid": segment[1]},
        "used_relation": {
            "subject_tid": 0,
            "object_tid": 1,
            "predicate": "x",
            "begin_fid": gt[0],
            "end_fid": gt[1],
        },
        "temporal_gt": {"begin_fid": gt[0], "end_fid": gt[1]},
        "captions": [{"description": d, "type": "person", "target_id": t} for d, t in captions],
        "questions": [{"description": d, "type": "person", "target_id": t} for d, t in questions],
    }


def vidstg_tubedetr_from_official(
    entries: list[dict[str, Any]], vidor: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What TubeDETR's preproc_vidstg.py writes, re-implemented for the fixtures."""
    videos: list[dict[str, Any]] = []
    trajectories: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        vid = entry["vid"]
        tracks: dict[int, dict[str, Any]] = {}
        for frame, objects in enumerate(vidor[vid]["trajectories"]):
            for obj in objects:
                b = obj["bbox"]
                tracks.setdefault(obj["tid"], {})[str(frame)] = {
                    "bbox": [b["xmin"], b["ymin"], b["xmax"] - b["xmin"], b["ymax"] - b["ymin"]],
                    "generated": 0,
                    "tracker": "none",
                    "category_id": 0,
                }
        base = {
            "original_video_id": vid,
            "frame_count": entry["frame_count"],
            "fps": entry["fps"],
            "width": entry["width"],
            "height": entry["height"],
            "start_frame": entry["used_segment"]["begin_fid"],
            "end_frame": entry["used_segment"]["end_fid"],
            "tube_start_frame": entry["temporal_gt"]["begin_fid"],
            "tube_end_frame": entry["temporal_gt"]["end_fid"],
            "video_path": f"{vid}.mp4",
        }
        for key, qtype in (("questions", "interrogative"), ("captions", "declarative")):
            for sentence in entry[key]:
                video = dict(
                    base,
                    caption=sentence["description"],
                    type=sentence["type"],
                    target_id=sentence["target_id"],
                    video_id=len(videos),
                    qtype=qtype,
                )
                videos.append(video)
                trajectories.setdefault(vid, {})[str(sentence["target_id"])] = tracks[
                    sentence["target_id"]
                ]
    return {"videos": videos, "trajectories": trajectories}
