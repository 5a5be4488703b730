"""Rendering grounding results onto the video with supervision annotators.

Every output frame is the input frame with, inside each result's span, the tube's box, a
label (the query and the confidence, kept inside the frame) and a trace of the box centre;
along the bottom edge, a timeline bar of the per-frame temporal scores with the chosen span
highlighted and a playhead; and, when a result carries attention maps and ``heatmap=True``,
the spatial map tinting the regions the model attends to (cells at or above half the frame's
peak; the rest of the frame keeps its pixels), each cell drawn where the model saw it: the map
is laid over the result's ``meta["view"]`` (the part of the frame the token grid covered, see
:mod:`tubescope.engine.geometry`; the whole frame when absent), so a centre-cropped backend
leaves the frame's sides untinted. Text size, line widths and the timeline's
height follow the frame's size (:class:`Style`, from supervision's
``calculate_optimal_text_scale`` and ``calculate_optimal_line_thickness``), so labels stay
readable from 320x240 to 4000x3000. A result whose ``video`` names another file is refused
unless ``force=True``. The output is H.264 (browser-playable) with the input's frame count,
timestamps and size, and no audio. Frames are streamed: memory stays bounded on long videos.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tubescope.errors import ValidationError
from tubescope.plural import counted
from tubescope.types import GroundingResult
from tubescope.video import Video
from tubescope.videowrite import VideoWriter

__all__ = [
    "render_result",
    "Renderer",
    "Style",
    "TIMELINE_HEIGHT",
    "HEATMAP_THRESHOLD",
    "check_matches_video",
    "video_mismatch",
]

#: Height in pixels of the timeline bar on small frames (it grows with the frame, see Style).
TIMELINE_HEIGHT = 18
#: Heat-map cells below this fraction of the frame's peak are not attended: left untinted.
HEATMAP_THRESHOLD = 0.5
_COLOURS = ["#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#bf5af2", "#64d2ff"]


@dataclass(frozen=True)
class Style:
    """Sizes of what is drawn, in pixels of the frame (text scale in OpenCV font units).

    :meth:`for_frame` scales them with the frame's shorter side, starting from supervision's
    ``calculate_optimal_text_scale`` (0.001 per pixel) and ``calculate_optimal_line_thickness``,
    with floors that keep small frames readable.

    Example:
        >>> from tubescope.render import Style
        >>> Style.for_frame(320, 240).timeline_height, Style.for_frame(3840, 2160).timeline_height
        (18, 76)
        >>> Style.for_frame(320, 240).line_thickness, Style.for_frame(3840, 2160).line_thickness
        (2, 6)
    """

    text_scale: float
    text_thickness: int
    text_padding: int
    line_thickness: int
    timeline_height: int

    @classmethod
    def for_frame(cls, width: int, height: int) -> Style:
        """The style for a ``width x height`` frame."""
        import supervision as sv

        short = min(width, height)
        scale = max(0.45, float(sv.calculate_optimal_text_scale((width, height))))
        line = max(int(sv.calculate_optimal_line_thickness((width, height))), round(short / 360))
        return cls(
            text_scale=round(scale, 3),
            text_thickness=max(1, round(scale * 1.5)),
            text_padding=max(4, round(scale * 9)),
            line_thickness=line,
            timeline_height=max(TIMELINE_HEIGHT, round(short * 0.035)),
        )


def video_mismatch(result: GroundingResult, video: Video) -> str | None:
    """Why ``result`` was not grounded on ``video`` by its name (``result.video``), or None.

    Unknown names (an in-memory video, a result without ``video``) and the same file name in
    another folder (a moved or copied video) count as a match.

    Example:
        >>> import numpy as np
        >>> from tubescope import GroundingResult, Video
        >>> from tubescope.render import video_mismatch
        >>> video = Video(np.zeros((2, 8, 8, 3), np.uint8))
        >>> video_mismatch(GroundingResult("x", video="street.mp4"), video) is None
        True
    """
    if result.video is None or video.path is None:
        return None
    named, actual = Path(result.video).expanduser(), Path(video.path).expanduser()
    if named.name == actual.name:
        return None
    try:
        if named.exists() and named.samefile(actual):
            return None
    except OSError:
        pass
    return f"grounded on {result.video}, not on {video.path}"


def check_matches_video(result: GroundingResult, video: Video, source: str = "result") -> None:
    """Raise :class:`ValidationError` when a result cannot belong to this video."""
    tube = result.tube
    name = video.path or "the video"
    if tube is not None and tube.end_frame > video.frame_count:
        raise ValidationError(
            f"its tube ends at frame {tube.end_frame}, but {name} has {counted(video.frame_count, 'frame')}", source
        )
    if len(result.sampled_frames) and result.sampled_frames.max() >= video.frame_count:
        raise ValidationError(
            f"it sampled frame {int(result.sampled_frames.max())}, but {name} has {counted(video.frame_count, 'frame')}",
            source,
        )
    if tube is not None and len(tube.boxes):
        if (tube.boxes[:, 2] > video.width * 1.05).any() or (tube.boxes[:, 3] > video.height * 1.05).any():
            raise ValidationError(f"its boxes fall outside the {video.width}x{video.height} frame of {name}", source)


class Renderer:
    """Draws results on frames; stateful only for the centre traces (one per result)."""

    def __init__(self, results: Sequence[GroundingResult], video: Video, *, heatmap: bool = True,
                 heatmap_opacity: float = 0.45, style: Style | None = None) -> None:
        import supervision as sv

        self.results = list(results)
        self.video = video
        self.heatmap = heatmap
        self.heatmap_opacity = heatmap_opacity
        self.style = style or Style.for_frame(video.width, video.height)
        st = self.style
        palette = [sv.Color.from_hex(c) for c in _COLOURS]
        self.colours = [palette[i % len(palette)] for i in range(len(self.results))]
        lookup = sv.ColorLookup.INDEX
        self.boxes = [
            sv.BoxAnnotator(color=c, thickness=st.line_thickness, color_lookup=lookup) for c in self.colours
        ]
        self.labels = [
            sv.LabelAnnotator(color=c, text_color=sv.Color.BLACK, text_scale=st.text_scale,
                              text_thickness=st.text_thickness, text_padding=st.text_padding,
                              color_lookup=lookup, smart_position=True)
            for c in self.colours
        ]
        self.traces = [
            sv.TraceAnnotator(color=c, thickness=st.line_thickness, trace_length=60, color_lookup=lookup)
            for c in self.colours
        ]
        self._sampled = [np.asarray(r.sampled_frames) for r in self.results]
        self._views = [_result_view(r) for r in self.results]

    def draw(self, index: int, frame_rgb: np.ndarray) -> np.ndarray:
        """The annotated copy of video frame ``index`` (RGB in, RGB out)."""
        import cv2

        scene = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
        height = scene.shape[0]
        body = scene[: height - self.style.timeline_height]  # a view: labels stay above the timeline
        for k, result in enumerate(self.results):
            if self.heatmap and result.maps and "spatial" in result.maps and len(self._sampled[k]):
                self._blend_heatmap(body, result.maps["spatial"], self._sampled[k], index,
                                    self._views[k], height)
            tube = result.tube
            if tube is None or index not in tube:
                continue
            detections = tube.to_detections(index)
            if len(detections) == 0:
                continue
            detections.tracker_id = np.array([k])
            score = "" if tube.score is None else f" {tube.score:.2f}"
            label = _fit_label(_short(result.query), score, body.shape[1], self.style)
            # supervision annotators draw in place on numpy frames (body is a view of scene)
            self.boxes[k].annotate(scene, detections)
            self.traces[k].annotate(scene, detections)
            self.labels[k].annotate(body, detections, labels=[label])
        self._timeline(scene, index)
        return cv2.cvtColor(scene, cv2.COLOR_BGR2RGB)

    def _blend_heatmap(self, body: np.ndarray, maps: np.ndarray, sampled: np.ndarray, index: int,
                       view: tuple[float, float, float, float], frame_height: int) -> None:
        import cv2

        nearest = int(np.argmin(np.abs(sampled - index)))
        grid = np.asarray(maps[nearest], dtype=np.float32)
        peak = float(grid.max())
        if not peak > 0:
            return
        # attended: at or above HEATMAP_THRESHOLD of the peak; 0 there, 1 at the peak
        level = np.clip((grid / peak - HEATMAP_THRESHOLD) / (1 - HEATMAP_THRESHOLD), 0.0, 1.0)
        if not level.any():
            return
        heat = _heat_on_frame(level, view, body.shape[1], frame_height)[: body.shape[0]]
        rows, cols = np.nonzero(heat > 0)
        if rows.size == 0:
            return
        region = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        part = heat[region]
        coloured = cv2.applyColorMap((part * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = (self.heatmap_opacity * np.sqrt(part))[..., None]  # 0 outside the attended cells
        body[region] = np.rint(body[region] * (1 - alpha) + coloured * alpha).astype(np.uint8)

    def _timeline(self, scene: np.ndarray, index: int) -> None:
        import cv2

        height, width = scene.shape[:2]
        tall = self.style.timeline_height
        bar = scene[height - tall :]
        bar[:] = (32, 32, 32)
        count = self.video.frame_count
        inset = max(1, tall // 16)
        stroke = max(2, round(tall / 9))

        def x_of(frame: float) -> int:
            return int(round(frame * (width - 1) / max(count - 1, 1)))

        for k, result in enumerate(self.results):
            colour = self.colours[k].as_bgr()
            if result.tube is not None:
                x1, x2 = x_of(result.tube.start_frame), x_of(result.tube.end_frame - 1)
                cv2.rectangle(bar, (x1, inset), (max(x2, x1 + 1), tall - 1 - inset), colour,
                              thickness=max(1, stroke // 2))
            scores = result.frame_scores
            if scores is not None and len(scores):
                peak = max(float(np.max(scores)), 1e-12)
                base = tall - 1 - 2 * inset
                for frame, score in zip(self._sampled[k], scores):
                    h = int(round((base - 2 * inset) * max(float(score), 0.0) / peak))
                    x = x_of(frame)
                    cv2.line(bar, (x, base), (x, base - h), colour, thickness=stroke)
        playhead = x_of(index)
        cv2.line(bar, (playhead, 0), (playhead, tall - 1), (255, 255, 255), thickness=max(1, stroke // 2))


def _result_view(result: GroundingResult) -> tuple[float, float, float, float]:
    """The view a result's maps were computed through (``meta["view"]``; whole frame if none)."""
    from tubescope.engine.geometry import FULL_VIEW, check_view

    view = result.meta.get("view") if result.meta else None
    if view is None:
        return FULL_VIEW
    try:
        return check_view(view)
    except (TypeError, ValueError) as err:
        raise ValidationError(f"not a view (x0, y0, x1, y1): {err}", "meta.view") from None


def _heat_on_frame(level: np.ndarray, view: tuple[float, float, float, float], width: int,
                   height: int) -> np.ndarray:
    """``(height, width)`` heat of a ``(rows, cols)`` grid laid over ``view`` of the frame (0
    where the grid did not look), bilinear inside the view."""
    import cv2

    x0, y0, x1, y1 = view[0] * width, view[1] * height, view[2] * width, view[3] * height
    w, h = max(1, int(round(x1 - x0))), max(1, int(round(y1 - y0)))
    inside = np.clip(cv2.resize(level, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    heat = np.zeros((height, width), dtype=np.float32)
    left, top = int(round(x0)), int(round(y0))
    fx0, fy0 = max(0, left), max(0, top)
    fx1, fy1 = min(width, left + w), min(height, top + h)
    if fx1 > fx0 and fy1 > fy0:
        heat[fy0:fy1, fx0:fx1] = inside[fy0 - top : fy1 - top, fx0 - left : fx1 - left]
    return heat


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _fit_label(text: str, suffix: str, width: int, style: Style) -> str:
    """``text + suffix``, with ``text`` shortened until the label fits ``width`` pixels."""
    import cv2

    def fits(label: str) -> bool:
        (w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, style.text_scale, style.text_thickness)
        return w + 2 * style.text_padding <= width

    label = text + suffix
    while not fits(label) and len(text) > 1:
        text = text[: max(1, len(text) - max(1, len(text) // 8) - 3)].rstrip()
        label = text + "..." + suffix
    return label


def render_result(
    video: str | os.PathLike[str] | Video,
    results: GroundingResult | Sequence[GroundingResult],
    out: str | os.PathLike[str],
    *,
    heatmap: bool = True,
    quality: int = 20,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Write an annotated copy of ``video`` showing one or more results.

    Args:
        video: the video the results were computed on.
        results: a result or several (each gets its own colour).
        out: output path (``.mp4`` recommended: H.264, yuv420p).
        heatmap: overlay the spatial attention map when a result carries maps.
        quality: H.264 CRF (lower is better).
        progress: called as ``progress(frames_done, total)``.
        force: draw results whose ``video`` names another file (see :func:`video_mismatch`).

    Raises:
        ValidationError: a result cannot belong to the video (its tube or sampled frames lie
            beyond the video, its boxes outside the frame, or, unless ``force``, its ``video``
            names another file).

    Returns:
        The output path. Its frame count, timestamps and size are the input's (an odd width
        or height is padded by one pixel, which H.264 requires).
    """
    opened = video if isinstance(video, Video) else Video(video)
    items = [results] if isinstance(results, GroundingResult) else list(results)
    for k, result in enumerate(items):
        source = f"result {k}" if len(items) > 1 else "result"
        mismatch = None if force else video_mismatch(result, opened)
        if mismatch is not None:
            raise ValidationError(f"{mismatch} (force=True draws it anyway)", source)
        check_matches_video(result, opened, source=source)
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
