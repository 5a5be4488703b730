"""The offline demo: a synthetic clip, a tiny random model, the full pipeline, rendering, evaluation.

Everything runs offline on a CPU in well under two minutes. The model has **random weights**,
so the grounding it produces is meaningless: the demo shows the pipeline and the outputs, not
accuracy. Real grounding uses real weights, e.g. ``tubescope ground VIDEO "QUERY" --model
Qwen/Qwen2-VL-7B-Instruct``.

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

__all__ = ["run_demo", "DemoOutputs", "RANDOM_MODEL_NOTICE"]

RANDOM_MODEL_NOTICE = (
    "The demo model has random weights, so this grounding is meaningless: it exercises the "
    "pipeline, not accuracy. For real grounding pass real weights, e.g. "
    "`tubescope ground VIDEO \"QUERY\" --model Qwen/Qwen2-VL-7B-Instruct`."
)


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
    num_frames: int = 8,
    progress: Callable[[str], None] | None = None,
) -> DemoOutputs:
    """Run the whole pipeline offline and write its outputs to ``directory``.

    Writes ``clip.mp4`` (synthetic, with known ground truth), ``ground_truth.json`` (HC-STVG v1
    format), ``proposals.json`` (the clip's object tracks, our track JSON), ``tiny-model/``
    (a random-weight checkpoint of ``family``), ``result.json`` (the GroundingResult),
    ``annotated.mp4`` (the rendering) and ``report.json`` (the evaluation, ``stcat`` protocol:
    every annotated frame).
    """
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
    clip = make_clip(out / "clip.mp4", width=320, height=240, num_frames=90, fps=30, num_shapes=3, seed=3)
    target = clip.objects[0]
    (out / "ground_truth.json").write_text(json.dumps(_hcstvg_annotation(clip, "clip.mp4", target), indent=1))
    write_tracks(out / "proposals.json", [o.track for o in clip.objects])
    notify(f"saving a tiny random-weight {family} model")
    model_dir = save_tiny_model(family, out / "tiny-model")
    notify("grounding")
    grounder = Grounder(
        model_dir,
        proposals=f"precomputed:{out / 'proposals.json'}",
        decomposer="rules",
        config=GrounderConfig(num_frames=num_frames),
        device="cpu",
    )
    result = grounder.ground(clip.path, target.description, return_maps=True)
    (out / "result.json").write_text(result.to_json())
    notify("rendering")
    render_result(clip.path, result, out / "annotated.mp4")
    notify("evaluating")
    report = evaluate(out / "ground_truth.json", {"clip": result}, dataset="hcstvg-v1", protocol="stcat")
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
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
