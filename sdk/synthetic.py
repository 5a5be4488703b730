"""Synthetic test videos: moving coloured shapes with exactly known ground-truth tubes.

Used by the tests, the demo and anyone who wants a clip with known answers. Every frame can
carry its own index as a barcode in a strip along the top edge (:func:`read_barcode`), so
decoders can be checked frame-exactly.

Example:
    >>> import tempfile, os
    >>> from tubescope.synthetic import make_clip
    >>> clip = make_clip(os.path.join(tempfile.mkdtemp(), "shapes.mp4"), num_frames=30, seed=1)
    >>> obj = clip.objects[0]
    >>> obj.description  # doctest: +SKIP
    'the red circle moving to the right'
    >>> obj.tube.span[0] >= 0 and len(clip.timestamps) == 30
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from tubescope.errors import ValidationError
from tubescope.types import Track, Tube
from tubescope.videowrite import VideoWriter, as_fraction

__all__ = [
    "PALETTE",
    "ShapeSpec",
    "SyntheticObject",
    "SyntheticClip",
    "random_shapes",
    "render_frames",
    "make_clip",
    "read_barcode",
    "BARCODE_BITS",
    "BARCODE_HEIGHT",
]

#: Colour names and their RGB values (saturated, far apart, survive lossy compression).
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 220, 40),
    "magenta": (220, 40, 200),
    "cyan": (40, 210, 220),
    "orange": (245, 140, 20),
    "white": (245, 245, 245),
}
KINDS = ("circle", "square", "triangle")
BARCODE_BITS = 16
BARCODE_HEIGHT = 8
_MARGIN = 4  # keep shapes this far below the barcode strip


@dataclass(frozen=True)
class ShapeSpec:
    """One object: a filled shape moving in a straight line while it is visible.

    ``size`` is the side (square, triangle) or diameter (circle) in pixels; ``start`` and
    ``end`` are the centre positions on the first and last visible frame of
    ``[appear, disappear)``.
    """

    color: str
    kind: str
    size: int
    start: tuple[float, float]
    end: tuple[float, float]
    appear: int
    disappear: int

    def __post_init__(self) -> None:
        if self.color not in PALETTE:
            raise ValidationError(f"unknown colour {self.color!r}; choose from {sorted(PALETTE)}")
        if self.kind not in KINDS:
            raise ValidationError(f"unknown shape {self.kind!r}; choose from {KINDS}")
        if self.size < 4:
            raise ValidationError(f"size must be at least 4 px, got {self.size}")
        if not 0 <= self.appear < self.disappear:
            raise ValidationError(f"visible span [{self.appear}, {self.disappear}) is empty or negative")

    @property
    def name(self) -> str:
        return f"{self.color} {self.kind}"

    @property
    def description(self) -> str:
        """A referring sentence, e.g. ``"the red circle moving to the right"``."""
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        if max(abs(dx), abs(dy)) < 2:
            motion = "standing still"
        elif abs(dx) >= abs(dy):
            motion = "moving to the right" if dx > 0 else "moving to the left"
        else:
            motion = "moving down" if dy > 0 else "moving up"
        return f"the {self.name} {motion}"

    def centre_at(self, frame: int) -> tuple[int, int]:
        """Integer centre on a visible frame (linear motion, rounded)."""
        steps = max(self.disappear - self.appear - 1, 1)
        a = (frame - self.appear) / steps
        x = self.start[0] + a * (self.end[0] - self.start[0])
        y = self.start[1] + a * (self.end[1] - self.start[1])
        return int(round(x)), int(round(y))

    def polygon_at(self, frame: int) -> np.ndarray | None:
        """Vertices of a square or triangle on ``frame`` (None for circles)."""
        cx, cy = self.centre_at(frame)
        h = self.size // 2
        if self.kind == "square":
            return np.array([[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]])
        if self.kind == "triangle":
            return np.array([[cx, cy - h], [cx + h, cy + h], [cx - h, cy + h]])
        return None

    def box_at(self, frame: int, width: int, height: int) -> np.ndarray | None:
        """Exact pixel extent ``[x1, y1, x2, y2]`` (x2, y2 exclusive edges), clipped to the frame.

        None when the shape is not visible or lies wholly outside the frame.
        """
        if not self.appear <= frame < self.disappear:
            return None
        cx, cy = self.centre_at(frame)
        h = self.size // 2
        # every kind covers the inclusive pixel range [c - h, c + h] on both axes
        x1, y1, x2, y2 = cx - h, cy - h, cx + h + 1, cy + h + 1
        x1, x2 = max(x1, 0), min(x2, width)
        y1, y2 = max(y1, 0), min(y2, height)
        if x1 >= x2 or y1 >= y2:
            return None
        return np.array([x1, y1, x2, y2], dtype=np.float64)

    def draw(self, image: np.ndarray, frame: int) -> None:
        """Draw the shape onto an RGB image in place (if visible on ``frame``)."""
        import cv2

        if not self.appear <= frame < self.disappear:
            return
        color = PALETTE[self.color]
        polygon = self.polygon_at(frame)
        if polygon is None:
            cv2.circle(image, self.centre_at(frame), self.size // 2, color, thickness=-1, lineType=cv2.LINE_8)
        else:
            cv2.fillPoly(image, [polygon.astype(np.int32)], color, lineType=cv2.LINE_8)


@dataclass(frozen=True)
class SyntheticObject:
    """An object of a synthetic clip with its ground truth."""

    spec: ShapeSpec
    track_id: int
    tube: Tube
    track: Track

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description


@dataclass(frozen=True)
class SyntheticClip:
    """A rendered clip and its ground truth. ``path`` is None for an in-memory clip."""

    path: Path | None
    width: int
    height: int
    fps: Fraction
    num_frames: int
    timestamps: np.ndarray
    objects: tuple[SyntheticObject, ...]
    barcode: bool
    background_seed: int

    def object(self, name: str) -> SyntheticObject:
        """The object called ``name`` (e.g. ``"red circle"``)."""
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object {name!r}; have {[o.name for o in self.objects]}")

    def frames(self) -> Iterator[np.ndarray]:
        """Render the frames again (bit-identical to what was encoded)."""
        return render_frames(
            [o.spec for o in self.objects],
            self.width,
            self.height,
            self.num_frames,
            barcode=self.barcode,
            background_seed=self.background_seed,
        )

    def to_array(self) -> np.ndarray:
        """All frames as one ``(num_frames, height, width, 3)`` uint8 array (small clips only)."""
        return np.stack(list(self.frames()))


def random_shapes(
    count: int,
    width: int,
    height: int,
    num_frames: int,
    *,
    seed: int | None = 0,
    min_size: int | None = None,
    max_size: int | None = None,
    min_visible: int | None = None,
) -> list[ShapeSpec]:
    """``count`` shapes of distinct colours with random sizes, paths and visible spans."""
    if count > len(PALETTE):
        raise ValidationError(f"at most {len(PALETTE)} shapes (one per colour), asked for {count}")
    rng = np.random.default_rng(seed)
    top = BARCODE_HEIGHT + _MARGIN
    short = min(width, height - top)
    lo = min_size or max(8, short // 8)
    hi = max(lo + 1, max_size or max(lo + 2, short // 3))
    min_len = min_visible or max(1, num_frames // 3)
    colours = rng.permutation(list(PALETTE))[:count]
    shapes = []
    for colour in colours:
        size = int(rng.integers(lo, hi))
        half = size // 2 + 1
        def point() -> tuple[float, float]:
            return (
                float(rng.uniform(half, width - half)),
                float(rng.uniform(top + half, height - half)),
            )
        appear = int(rng.integers(0, max(1, num_frames - min_len + 1)))
        disappear = int(rng.integers(min(appear + min_len, num_frames), num_frames + 1))
        shapes.append(
            ShapeSpec(
                color=str(colour),
                kind=str(rng.choice(KINDS)),
                size=size,
                start=point(),
                end=point(),
                appear=appear,
                disappear=max(disappear, appear + 1),
            )
        )
    return shapes


def _background(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 90, height, dtype=np.float32)[:, None, None]
    texture = rng.normal(0, 4, size=(height, width, 1)).astype(np.float32)
    tint = np.array([1.0, 0.95, 1.05], dtype=np.float32)
    return np.clip((ramp + texture) * tint, 0, 255).astype(np.uint8)


def _draw_barcode(image: np.ndarray, index: int) -> None:
    width = image.shape[1]
    block = width // BARCODE_BITS
    image[:BARCODE_HEIGHT] = 0
    for bit in range(BARCODE_BITS):
        if (index >> (BARCODE_BITS - 1 - bit)) & 1:
            image[:BARCODE_HEIGHT, bit * block : (bit + 1) * block] = 255


def read_barcode(image: np.ndarray) -> int:
    """Read the frame index drawn by :func:`render_frames` (robust to lossy compression)."""
    width = image.shape[1]
    block = width // BARCODE_BITS
    value = 0
    for bit in range(BARCODE_BITS):
        cell = image[1 : BARCODE_HEIGHT - 1, bit * block + 2 : (bit + 1) * block - 2]
        value = (value << 1) | int(cell.mean() > 127)
    return value


def render_frames(
    shapes: Sequence[ShapeSpec],
    width: int,
    height: int,
    num_frames: int,
    *,
    barcode: bool = True,
    background_seed: int = 0,
) -> Iterator[np.ndarray]:
    """Yield ``num_frames`` RGB frames with the shapes drawn in order (later ones on top)."""
    if barcode and width // BARCODE_BITS < 6:
        raise ValidationError(f"the barcode needs a width of at least {6 * BARCODE_BITS} px")
    background = _background(width, height, background_seed)
    for index in range(num_frames):
        image = background.copy()
        for shape in shapes:
            shape.draw(image, index)
        if barcode:
            _draw_barcode(image, index)
        yield image


def _ground_truth(
    shapes: Sequence[ShapeSpec], width: int, height: int, num_frames: int, fps: Fraction, timestamps: np.ndarray
) -> tuple[SyntheticObject, ...]:
    objects = []
    for track_id, shape in enumerate(shapes):
        frames, boxes = [], []
        for index in range(shape.appear, min(shape.disappear, num_frames)):
            box = shape.box_at(index, width, height)
            if box is not None:
                frames.append(index)
                boxes.append(box)
        if not frames:
            raise ValidationError(f"{shape.name} is never inside the {width}x{height} frame")
        start, end = frames[0], frames[-1] + 1
        end_time = float(timestamps[end]) if end < num_frames else float(timestamps[-1] + 1 / fps)
        tube = Tube(
            start,
            end,
            frames=frames,
            boxes=boxes,
            fps=float(fps),
            start_time=float(timestamps[start]),
            end_time=end_time,
            track_id=track_id,
        )
        track = Track(track_id, frames=frames, boxes=boxes, label=shape.kind)
        objects.append(SyntheticObject(spec=shape, track_id=track_id, tube=tube, track=track))
    return tuple(objects)


def make_clip(
    path: str | os.PathLike[str] | None = None,
    *,
    width: int = 320,
    height: int = 240,
    num_frames: int = 60,
    fps: float | Fraction = 30,
    shapes: Sequence[ShapeSpec] | None = None,
    num_shapes: int = 3,
    seed: int = 0,
    codec: str = "h264",
    barcode: bool = True,
    timestamps: Sequence[float] | None = None,
    faststart: bool = False,
) -> SyntheticClip:
    """Render a clip of moving shapes and (when ``path`` is given) encode it.

    Args:
        path: output video file; None keeps the clip in memory (use :meth:`SyntheticClip.to_array`).
        width, height, num_frames, fps: geometry and length; fps is kept exact.
        shapes: explicit objects; by default ``num_shapes`` random ones from ``seed``.
        codec: ``"h264"`` or ``"mpeg4"``.
        barcode: draw each frame's index along the top edge.
        timestamps: per-frame times in seconds (millisecond precision) for a
            variable-frame-rate file; default ``index / fps``.
        faststart: put the MP4 index first (a truncated file then still opens).

    Returns:
        The clip's geometry, timestamps and per-object ground truth (``Tube`` and ``Track``).
    """
    rate = as_fraction(fps)
    if shapes is None:
        shapes = random_shapes(num_shapes, width, height, num_frames, seed=seed)
    if timestamps is None:
        times = np.array([float(Fraction(i) / rate) for i in range(num_frames)])
        time_base = None
    else:
        times = np.round(np.asarray(timestamps, dtype=np.float64), 3)
        if times.shape != (num_frames,) or (np.diff(times) <= 0).any():
            raise ValidationError("timestamps must give one strictly increasing time per frame")
        time_base = Fraction(1, 1000)
    objects = _ground_truth(shapes, width, height, num_frames, rate, times)
    out = Path(path) if path is not None else None
    clip = SyntheticClip(
        path=out,
        width=width,
        height=height,
        fps=rate,
        num_frames=num_frames,
        timestamps=times,
        objects=objects,
        barcode=barcode,
        background_seed=seed,
    )
    if out is not None:
        with VideoWriter(
            out, rate, width, height, codec=codec, faststart=faststart, time_base=time_base
        ) as sink:
            for index, image in enumerate(clip.frames()):
                sink.write(image, None if timestamps is None else Fraction(int(round(times[index] * 1000)), 1000))
    return clip
