"""Rendering grounding results onto the video with supervision annotators.

Every output frame is the input frame with, inside each result's span, the tube's box, a
label (the query and the confidence) and a trace of the box centre; along the bottom edge, a
timeline bar of the per-frame temporal scores with the chosen span highlighted and a playhead;
and, when a result carries attention maps and ``heatmap=True``, the spatial map blended over
the frame. The output is H.264 (browser-playable) with the input's frame count, timestamps
and size, and no audio. Frames are streamed: memory stays bounded on long videos.

Example:
    >>> import os, tempfile
    >>> from tubescope import GroundingResult
    >>> from tubescope.render import render_result
    >>> from tubescope.synthetic import make_clip
    >>> work = tempfile.mkdtemp()
    >>> clip = make_clip(os.path.join(work, "in.mp4"), num_frames=20)
    >>> result = GroundingResult("the shape", clip.objects[0].tube)
    >>> out = render_result(clip.path, result, os.path.join(work, "out.mp4"))
    >>> os.path.getsize(out) > 0
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tubescope.errors import ValidationError
from tubescope.types import GroundingResult
from tubescope.video import Video
from tubescope.videowrite import VideoWriter

__all__ = ["render_result", "Renderer", "TIMELINE_HEIGHT", "check_matches_video"]

#: Height in pixels of the timeline bar drawn along the bottom of every frame.
TIMELINE_HEIGHT = 18
_COLOURS = ["#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#bf5af2", "#64d2ff"]


def check_matches_video(result: GroundingResult, video: Video, source: str = "result") -> None:
    """Raise :class:`ValidationError` when a result cannot belong to this video."""
    tube = result.tube
    name = video.path or "the video"
    if tube is not None and tube.end_frame > video.frame_count:
        raise ValidationError(
            f"its tube ends at frame {tube.end_frame}, but {name} has {video.frame_count} frames", source
        )
    if len(result.sampled_frames) and result.sampled_frames.max() >= video.frame_count:
        raise ValidationError(
            f"it sampled frame {int(result.sampled_frames.max())}, but {name} has {video.frame_count} frames",
            source,
        )
    if tube is not None and len(tube.boxes):
        if (tube.boxes[:, 2] > video.width * 1.05).any() or (tube.boxes[:, 3] > video.height * 1.05).any():
            raise ValidationError(f"its boxes fall outside the {video.width}x{video.height} frame of {name}", source)


class Renderer:
    """Draws results on frames; stateful only for the centre traces (one per result)."""

    def __init__(self, results: Sequence[GroundingResult], video: Video, *, heatmap: bool = True,
                 heatmap_opacity: float = 0.35) -> None:
        import supervision as sv

        self.results = list(results)
        self.video = video
        self.heatmap = heatmap
        self.heatmap_opacity = heatmap_opacity
        palette = [sv.Color.from_hex(c) for c in _COLOURS]
        self.colours = [palette[i % len(palette)] for i in range(len(self.results))]
        lookup = sv.ColorLookup.INDEX
        self.boxes = [sv.BoxAnnotator(color=c, thickness=2, color_lookup=lookup) for c in self.colours]
        self.labels = [
            sv.LabelAnnotator(color=c, text_color=sv.Color.BLACK, text_scale=0.45, text_padding=4, color_lookup=lookup)
            for c in self.colours
        ]
        self.traces = [
            sv.TraceAnnotator(color=c, thickness=2, trace_length=60, color_lookup=lookup) for c in self.colours
        ]
        self._sampled = [np.asarray(r.sampled_frames) for r in self.results]

    def draw(self, index: int, frame_rgb: np.ndarray) -> np.ndarray:
        """The annotated copy of video frame ``index`` (RGB in, RGB out)."""
        import cv2

        scene = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
        height = scene.shape[0]
        body = scene[: height - TIMELINE_HEIGHT]
        for k, result in enumerate(self.results):
            if self.heatmap and result.maps and "spatial" in result.maps and len(self._sampled[k]):
                self._blend_heatmap(body, result.maps["spatial"], self._sampled[k], index)
            tube = result.tube
            if tube is None or index not in tube:
                continue
            detections = tube.to_detections(index)
            if len(detections) == 0:
                continue
            detections.tracker_id = np.array([k])
            label = f"{_short(result.query)}" + ("" if tube.score is None else f" {tube.score:.2f}")
            scene = self.boxes[k].annotate(scene, detections)
            scene = self.traces[k].annotate(scene, detections)
            scene = self.labels[k].annotate(scene, detections, labels=[label])
        self._timeline(scene, index)
        return cv2.cvtColor(scene, cv2.COLOR_BGR2RGB)

    def _blend_heatmap(self, body: np.ndarray, maps: np.ndarray, sampled: np.ndarray, index: int) -> None:
        import cv2

        nearest = int(np.argmin(np.abs(sampled - index)))
        grid = np.asarray(maps[nearest], dtype=np.float32)
        peak = float(grid.max())
        if peak <= 0:
            return
        heat = cv2.resize(grid / peak, (body.shape[1], body.shape[0]), interpolation=cv2.INTER_LINEAR)
        heat = np.clip(heat, 0.0, 1.0)
        coloured = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = (self.heatmap_opacity * heat)[..., None]  # cold regions stay untinted
        body[:] = (body * (1 - alpha) + coloured * alpha).astype(np.uint8)

    def _timeline(self, scene: np.ndarray, index: int) -> None:
        import cv2

        height, width = scene.shape[:2]
        top = height - TIMELINE_HEIGHT
        bar = scene[top:]
        bar[:] = (32, 32, 32)
        count = self.video.frame_count

        def x_of(frame: float) -> int:
            return int(round(frame * (width - 1) / max(count - 1, 1)))

        for k, result in enumerate(self.results):
            colour = self.colours[k].as_bgr()
            if result.tube is not None:
                x1, x2 = x_of(result.tube.start_frame), x_of(result.tube.end_frame - 1)
                cv2.rectangle(bar, (x1, 1), (max(x2, x1 + 1), TIMELINE_HEIGHT - 2), colour, thickness=1)
            scores = result.frame_scores
            if scores is not None and len(scores):
                peak = max(float(np.max(scores)), 1e-12)
                for frame, score in zip(self._sampled[k], scores):
                    h = int(round((TIMELINE_HEIGHT - 4) * max(float(score), 0.0) / peak))
                    x = x_of(frame)
                    cv2.line(bar, (x, TIMELINE_HEIGHT - 2), (x, TIMELINE_HEIGHT - 2 - h), colour, thickness=2)
        playhead = x_of(index)
        cv2.line(bar, (playhead, 0), (playhead, TIMELINE_HEIGHT - 1), (255, 255, 255), thickness=1)


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_result(
    video: str | os.PathLike[str] | Video,
    results: GroundingResult | Sequence[GroundingResult],
    out: str | os.PathLike[str],
    *,
    heatmap: bool = True,
    quality: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write an annotated copy of ``video`` showing one or more results.

    Args:
        video: the video the results were computed on.
        results: a result or several (each gets its own colour).
        out: output path (``.mp4`` recommended: H.264, yuv420p).
        heatmap: overlay the spatial attention map when a result carries maps.
        quality: H.264 CRF (lower is better).
        progress: called as ``progress(frames_done, total)``.

    Returns:
        The output path. Its frame count, timestamps and size are the input's (an odd width
        or height is padded by one pixel, which H.264 requires).
    """
    opened = video if isinstance(video, Video) else Video(video)
    items = [results] if isinstance(results, GroundingResult) else list(results)
    for k, result in enumerate(items):
        check_matches_video(result, opened, source=f"result {k}" if len(items) > 1 else "result")
    renderer = Renderer(items, opened, heatmap=heatmap)
    from fractions import Fraction

    out_path = Path(out)
    width, height = opened.width + opened.width % 2, opened.height + opened.height % 2
    tmp = out_path.with_name(out_path.name + ".part" + out_path.suffix)
    with VideoWriter(tmp, opened.fps, width, height, codec="h264", quality=quality,
                     time_base=Fraction(1, 90000)) as sink:
        for frame in opened.iter_frames():
            image = renderer.draw(frame.index, frame.image)
            if image.shape[:2] != (height, width):
                image = np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0)), mode="edge")
            sink.write(image, timestamp=Fraction(frame.time).limit_denominator(90000))
            if progress is not None:
                progress(frame.index + 1, opened.frame_count)
    os.replace(tmp, out_path)
    return out_path
