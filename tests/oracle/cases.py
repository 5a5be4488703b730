"""Seeded synthetic clips with official-format proposals (a box and a mask every 10th frame).

A case is a clip (in memory), its official proposal JSON (``sample_frames`` every 10th frame,
``dino_sam2_proposals`` with a zero box and an empty mask where a track is absent, masks as
uncompressed COCO RLE), and queries with their attribute / action parts. Both tubescope and
the oracle read the same file and the same parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.decompose import resolve_parts
from tubescope.synthetic import ShapeSpec, SyntheticClip, make_clip
from tubescope.types import SubQueries

KEYFRAME_STEP = 10


def rle(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE of a boolean mask (column-major runs, zeros first)."""
    flat = np.asarray(mask, dtype=np.uint8).reshape(-1, order="F")
    changes = np.nonzero(np.diff(flat))[0] + 1
    bounds = np.concatenate([[0], changes, [len(flat)]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def shape_mask(spec: ShapeSpec, frame: int, width: int, height: int) -> np.ndarray | None:
    """The pixels the shape covers on ``frame`` (None where it is not visible)."""
    if spec.box_at(frame, width, height) is None:
        return None
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    spec.draw(canvas, frame)
    mask = canvas.any(axis=2)
    return mask if mask.any() else None


@dataclass(frozen=True)
class Query:
    text: str
    parts: SubQueries


@dataclass
class Case:
    seed: int
    clip: SyntheticClip
    frames: np.ndarray  # (N, H, W, 3) uint8
    proposals: dict[str, Any]  # the official JSON object
    path: Path  # where it is written
    queries: list[Query]


class GivenParts:
    """A decomposer that returns the case's own parts (the official precomputed GPT-4o file)."""

    name = "given"

    def __init__(self, queries: list[Query]) -> None:
        self._parts = {q.text: q.parts for q in queries}

    def decompose(self, query: str, video_id: str | None = None) -> SubQueries:
        return self._parts[query]


def make_case(seed: int, directory: Path, *, width: int = 160, height: int = 120, frames: int | None = None) -> Case:
    rng = np.random.default_rng(seed)
    num_frames = frames or int(rng.integers(12, 26)) * KEYFRAME_STEP + int(rng.integers(1, KEYFRAME_STEP))
    clip = make_clip(None, width=width, height=height, num_frames=num_frames, num_shapes=3, seed=seed)
    pixels = clip.to_array()
    keyframes = list(range(0, num_frames, KEYFRAME_STEP))
    tracks = []
    for obj in clip.objects:
        boxes, masks = [], []
        for k in keyframes:
            mask = shape_mask(obj.spec, k, width, height)
            box = obj.spec.box_at(k, width, height)
            if mask is None or box is None:
                boxes.append([[0.0, 0.0, 0.0, 0.0]])
                masks.append(rle(np.zeros((height, width), bool)))
            else:
                boxes.append([box.tolist()])
                masks.append(rle(mask))
        tracks.append((obj.track_id, boxes, masks))
    # a distractor: a box drifting over the frame, seen on a random stretch of keyframes
    lo = int(rng.integers(0, len(keyframes) // 2))
    hi = int(rng.integers(lo + 2, len(keyframes) + 1))
    start = rng.uniform([0, 0], [width * 0.6, height * 0.6])
    step = rng.uniform(-3, 3, size=2)
    size = rng.uniform([width * 0.1, height * 0.15], [width * 0.35, height * 0.45])
    boxes, masks = [], []
    for i, _ in enumerate(keyframes):
        if lo <= i < hi:
            x1, y1 = np.clip(start + step * i, 0, [width - size[0], height - size[1]])
            box = [float(x1), float(y1), float(x1 + size[0]), float(y1 + size[1])]
            mask = np.zeros((height, width), bool)
            mask[int(round(box[1])) : int(round(box[3])), int(round(box[0])) : int(round(box[2]))] = True
            boxes.append([box])
            masks.append(rle(mask))
        else:
            boxes.append([[0.0, 0.0, 0.0, 0.0]])
            masks.append(rle(np.zeros((height, width), bool)))
    tracks.append((100 + seed, boxes, masks))
    order = rng.permutation(len(tracks))
    proposals = {
        "sample_frames": [f"{k:05d}.jpg" for k in keyframes],
        "dino_sam2_proposals": [
            {
                "id": int(tracks[i][0]),
                "bbox": tracks[i][1],
                "mask": tracks[i][2],
                "cls": "object",
                "fmt": "xyxy",
                "w": width,
                "h": height,
            }
            for i in order
        ],
    }
    path = directory / f"case{seed}.json"
    path.write_text(json.dumps(proposals))
    queries = []
    for obj in clip.objects:
        spec = obj.spec
        motion = spec.description.split(spec.kind, 1)[1].strip()
        text = spec.description
        queries.append(Query(text, resolve_parts(text, SubQueries(f"the {spec.name}", f"The {spec.kind} {motion}.", False, "given"))))
    return Case(seed, clip, pixels, proposals, path, queries)
