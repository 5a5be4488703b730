"""Window cutting: fixed with overlap, motion-gated, exact fps, segments, bounded buffers."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from tubescope.errors import ValidationError
from tubescope.integrations.cctv import (
    FixedWindows,
    IterableSource,
    LiveFrame,
    MotionWindows,
    Window,
    parse_duration,
)
from tubescope.integrations.cctv.windows import SegmentEnd
from tubescope.synthetic import ShapeSpec, render_frames


def frames(n: int, fps: float | Fraction = 10, segment: int = 0, start: int = 0) -> list[LiveFrame]:
    source = IterableSource((np.zeros((12, 16, 3), np.uint8) for _ in range(n)), fps=fps)
    out = []
    for f in source:
        out.append(
            LiveFrame(
                index=start + f.index,
                time=f.time,
                image=f.image,
                wallclock=f.wallclock,
                source_id="cam",
                segment=segment,
                position=f.position,
                fps=f.fps,
            )
        )
    return out


def cut(spec, items):  # type: ignore[no-untyped-def]
    cutter = spec.cutter()
    out = []
    for frame in items:
        out += cutter.push(frame)
    if cutter.segment is not None:
        out += cutter.end_segment(cutter.segment)
    return out, cutter


def spans(items) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return [(w.start_index, w.end_index) for w in items if isinstance(w, Window)]


def test_parse_duration() -> None:
    assert (
        parse_duration("10s") == 10.0
        and parse_duration("250ms") == 0.25
        and parse_duration("2m") == 120.0
    )
    assert parse_duration(" 1.5 ") == 1.5
    with pytest.raises(ValidationError, match="--window"):
        parse_duration("ten seconds", "--window")


def test_fixed_windows_overlap_and_partial_tail() -> None:
    out, cutter = cut(FixedWindows(2, 0.5), frames(58))
    assert spans(out) == [(0, 20), (15, 35), (30, 50), (45, 58)]
    windows = [w for w in out if isinstance(w, Window)]
    assert [w.next_start for w in windows] == [15, 30, 45, None]
    assert isinstance(out[-1], SegmentEnd) and cutter.capacity == 20
    assert windows[0].fps == Fraction(10) and windows[0].duration == 2.0


def test_fixed_windows_keep_ntsc_fps_exact() -> None:
    out, _ = cut(FixedWindows(1, 0), frames(61, fps=Fraction(30000, 1001)))
    window = next(w for w in out if isinstance(w, Window))
    assert window.fps == Fraction(30000, 1001) and len(window) == 30
    assert window.to_video().fps == Fraction(30000, 1001)


def test_short_tail_is_not_grounded_and_covered_tail_not_repeated() -> None:
    out, _ = cut(FixedWindows(2, 1, min_length=1.6), frames(25))
    assert spans(out) == [(0, 20)]  # the tail [10, 25) lasts 1.5 s < min_length
    out, _ = cut(FixedWindows(2, 1, min_length=1.5), frames(25))
    assert spans(out) == [(0, 20), (10, 25)]
    out, _ = cut(FixedWindows(2, 1), frames(20))
    assert spans(out) == [(0, 20)]  # the overlap tail alone is not a new window


def test_windows_never_span_segments() -> None:
    items = frames(15, segment=0) + frames(15, segment=1, start=15)
    out, _ = cut(FixedWindows(1, 0, min_length=0.5), items)
    assert spans(out) == [(0, 10), (10, 15), (15, 25), (25, 30)]
    assert [w.segment for w in out if isinstance(w, SegmentEnd)] == [0, 1]
    assert all(len({f.segment for f in w.frames}) == 1 for w in out if isinstance(w, Window))


def test_sample_fps_thins_frames_and_keeps_exact_rate() -> None:
    out, cutter = cut(FixedWindows(2, 0, sample_fps=5), frames(60, fps=25))
    windows = [w for w in out if isinstance(w, Window)]
    assert windows[0].fps == 5 and len(windows[0]) == 10
    assert [f.position for f in windows[0].frames][:3] == [0, 5, 10]
    assert cutter.frames_skipped == 48


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"length": 2, "overlap": 2}, "window.overlap"),
        ({"length": 0, "overlap": 0}, "window.length"),
        ({"length": "x", "overlap": 0}, "window.length"),
    ],
)
def test_fixed_windows_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        FixedWindows(**kwargs)


def _moving_square_clip(num: int, appear: int, disappear: int) -> list[LiveFrame]:
    shape = ShapeSpec(
        color="red",
        kind="square",
        size=24,
        start=(30.0, 60.0),
        end=(130.0, 60.0),
        appear=appear,
        disappear=disappear,
    )
    images = render_frames([shape], 160, 120, num, barcode=False)
    rng = np.random.default_rng(0)
    noisy = (
        np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
        for img in images
    )
    return list(IterableSource(noisy, fps=10, source_id="cam"))


def test_motion_windows_wrap_the_motion_with_pre_and_post_roll() -> None:
    items = _moving_square_clip(120, appear=40, disappear=70)
    spec = MotionWindows(pre_roll=1, post_roll=1, max_length=20)
    out, cutter = cut(spec, items)
    windows = [w for w in out if isinstance(w, Window)]
    assert len(windows) == 1, spans(out)
    (window,) = windows
    assert 28 <= window.start_index <= 31  # 1 s of pre-roll before frame 40
    assert 70 <= window.end_index <= 83  # post-roll after the square left at 70
    assert window.kind == "motion"
    assert cutter.capacity == 200


def test_motion_windows_split_long_motion_with_overlap() -> None:
    items = _moving_square_clip(120, appear=20, disappear=110)
    out, cutter = cut(MotionWindows(pre_roll=0.5, post_roll=1, max_length=3, overlap=1), items)
    windows = [w for w in out if isinstance(w, Window)]
    assert len(windows) >= 3
    for a, b in zip(windows, windows[1:]):
        if a.next_start is not None and b.start_index < a.end_index:
            assert a.end_index - b.start_index == 10  # 1 s overlap
    assert all(len(w) <= 30 for w in windows)
    assert cutter.buffered == 0


def test_still_video_gives_no_motion_window() -> None:
    out, _ = cut(MotionWindows(), _moving_square_clip(80, appear=0, disappear=0 + 1)[5:])
    assert spans(out) == []
