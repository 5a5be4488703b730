"""The offline demo: a synthetic clip, a tiny random model, the full pipeline, rendering, evaluation.

Everything runs offline on a CPU in well under two minutes. The model has **random weights**,
so the grounding it produces is meaningless: the demo shows the pipeline and the outputs, not
accuracy. Real grounding uses real weights, e.g. ``tubescope ground VIDEO "QUERY" --model
Qwen/Qwen2-VL-7B-Instruct``.

The clip's three objects (:data:`DEMO_SHAPES`) each appear or disappear part-way through, and
the grounder samples more frames (:data:`DEMO_FRAMES`) than its temporal window holds
(:data:`DEMO_WINDOW`), so the grounded span is a real part of the clip and the rendering
shows a box only on the frames where the chosen object exists.

Example:
    >>> import tempfile
    >>> from tubescope.demo import run_demo
    >>> outputs = run_demo(tempfile.mkdtemp())  # doctest: +SKIP
    >>> sorted(p.name for p in outputs.files())  # doctest: +SKIP
    ['annotated.mp4', 'clip.mp4', 'ground_truth.json', 'proposals.json', 'report.json', 'result.json']
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tubescope.synthetic import ShapeSpec

__all__ = ["run_demo", "DemoOutputs", "RANDOM_MODEL_NOTICE", "DEMO_SHAPES", "DEMO_FRAMES", "DEMO_WINDOW"]

RANDOM_MODEL_NOTICE = (
    "The demo model has random weights, so this grounding is meaningless: it exercises the "
    "pipeline, not accuracy. For real grounding pass real weights, e.g. "
    "`tubescope ground VIDEO \"QUERY\" --model Qwen/Qwen2-VL-7B-Instruct`."
)


#: Length of the demo clip (frames, at 30 fps) and its objects: each one enters or leaves
#: during the clip, none is red (the rendering's first box colour).
DEMO_LENGTH = 96
DEMO_SHAPES = (
    ShapeSpec("blue", "circle", 40, start=(60, 70), end=(250, 110), appear=8, disappear=52),
    ShapeSpec("green", "square", 36, start=(230, 60), end=(200, 190), appear=30, disappear=80),
    ShapeSpec("yellow", "triangle", 44, start=(280, 200), end=(80, 170), appear=56, disappear=DEMO_LENGTH),
)
#: Frames shown to the model, and the temporal window: the span covers about a quarter of the clip.
DEMO_FRAMES = 16
DEMO_WINDOW = 4


@dataclass(frozen=True)
class DemoOutputs:
    """Paths written by :func:`run_demo` and the headline numbers."""

    directory: Path
    clip: Path
    ground_truth: Path
    proposals: Path
    result: Path
    annotated: Path
    report: Path
    query: str
    m_vIoU: float
    m_tIoU: float

    def files(self) -> list[Path]:
        return [self.clip, self.ground_truth, self.proposals, self.result, self.annotated, self.report]


def _hcstvg_annotation(clip: Any, video_name: str, target: Any) -> dict[str, Any]:
    """The target's ground truth as an HC-STVG v1 record (1-based ``st_frame``, xywh boxes)."""
    tube = target.tube.dense()
    boxes = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in tube.boxes.tolist()]
    return {
        video_name: {
            "img_num": clip.num_frames,
            "width": clip.width,
            "height": clip.height,
            "st_frame": tube.start_frame + 1,
            "st_time": tube.start_time,
            "ed_time": tube.end_time,
            "bbox": boxes,
            "caption": target.description,
        }
    }


def run_demo(
    directory: str | os.PathLike[str],
    *,
    family: str = "qwen2-vl",
    num_frames: int = DEMO_FRAMES,
    progress: Callable[[str], None] | None = None,
) -> DemoOutputs:
    """Run the whole pipeline offline and write its outputs to ``directory``.

    Writes ``clip.mp4`` (synthetic, with known ground truth), ``ground_truth.json`` (HC-STVG v1
    format), ``proposals.json`` (the clip's object tracks, our track JSON), ``tiny-model/``
    (a random-weight checkpoint of ``family``), ``result.json`` (the GroundingResult),
    ``annotated.mp4`` (the rendering) and ``report.json`` (the evaluation, ``stcat`` protocol:
    every annotated frame). The JSON files are written atomically.
    """
    from tubescope.durable import atomic_write_text
    from tubescope.eval import evaluate
    from tubescope.grounder import Grounder
    from tubescope.engine.config import GrounderConfig
    from tubescope.proposals import write_tracks
    from tubescope.render import render_result
    from tubescope.synthetic import make_clip
    from tubescope.testing import save_tiny_model

    notify = progress or (lambda stage: None)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    notify("making a synthetic clip")
    clip = make_clip(out / "clip.mp4", width=320, height=240, num_frames=DEMO_LENGTH, fps=30, shapes=DEMO_SHAPES,
                     seed=3)
    target = clip.objects[0]
    atomic_write_text(out / "ground_truth.json", json.dumps(_hcstvg_annotation(clip, "clip.mp4", target), indent=1))
    write_tracks(out / "proposals.json", [o.track for o in clip.objects])
    notify(f"saving a tiny random-weight {family} model")
    model_dir = save_tiny_model(family, out / "tiny-model")
    notify("grounding")
    grounder = Grounder(
        model_dir,
        proposals=f"precomputed:{out / 'proposals.json'}",
        decomposer="rules",
        config=GrounderConfig(num_frames=num_frames, temporal_k=min(DEMO_WINDOW, num_frames)),
        device="cpu",
    )
    result = grounder.ground(clip.path, target.description, return_maps=True)
    atomic_write_text(out / "result.json", result.to_json())
    notify("rendering")
    render_result(clip.path, result, out / "annotated.mp4")
    notify("evaluating")
    report = evaluate(out / "ground_truth.json", {"clip": result}, dataset="hcstvg-v1", protocol="stcat")
    atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=1))
    return DemoOutputs(
        directory=out,
        clip=clip.path,
        ground_truth=out / "ground_truth.json",
        proposals=out / "proposals.json",
        result=out / "result.json",
        annotated=out / "annotated.mp4",
        report=out / "report.json",
        query=target.description,
        m_vIoU=float(report.m_vIoU),
        m_tIoU=float(report.m_tIoU),
    )
