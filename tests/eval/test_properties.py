"""Property tests (hypothesis): perfect predictions, score ranges, order invariance."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tubescope import Tube
from tubescope.eval import GTQuery, Prediction, evaluate

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _boxes(rng: np.random.Generator, n: int, positive: bool = True) -> np.ndarray:
    xy = rng.uniform(0, 500, (n, 2))
    wh = rng.uniform(1 if positive else 0, 200, (n, 2))
    if not positive:
        wh[rng.random((n, 2)) < 0.2] = 0.0
    return np.column_stack([xy, xy + wh])


@st.composite
def hcstvg_query(draw, index: int = 0) -> GTQuery:
    frame_count = draw(st.integers(100, 1300))
    n = draw(st.integers(1, frame_count - 1))
    st_frame = draw(st.integers(1, frame_count - n + 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    start = st_frame - 1
    return GTQuery(
        f"q{index}",
        f"q{index}",
        "x",
        None,
        "hcstvg",
        frame_count,
        frame_count / 20,
        640,
        360,
        start,
        start + n,
        frames=np.arange(start, start + n),
        boxes=_boxes(rng, n),
        index=index,
        st_frame=st_frame,
    )


@st.composite
def vidstg_query(draw, index: int = 0) -> GTQuery:
    fps = draw(st.sampled_from([10.0, 15.0, 23.976, 24.0, 25.0, 29.97]))
    frame_count = draw(st.integers(20, 3000))
    seg_b = draw(st.integers(0, frame_count - 2))
    seg_e = draw(st.integers(seg_b + 1, frame_count - 1))
    start = draw(st.integers(seg_b, seg_e))
    end = draw(st.integers(start + 1, min(seg_e + 1, frame_count)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = end - start
    end_box = _boxes(rng, 1)[0] if draw(st.booleans()) and end < frame_count else None
    qtype = draw(st.sampled_from(["declarative", "interrogative"]))
    return GTQuery(
        str(index),
        f"v{index}",
        "x",
        qtype,
        "vidstg",
        frame_count,
        fps,
        640,
        480,
        start,
        end,
        frames=np.arange(start, end),
        boxes=_boxes(rng, n),
        index=index,
        segment=(seg_b, seg_e),
        end_box=end_box,
    )


@st.composite
def prediction_for(draw, q: GTQuery) -> Prediction | None:
    kind = draw(st.sampled_from(["missing", "tube", "keyed", "empty"]))
    if kind == "missing":
        return None
    ps = draw(st.integers(0, q.frame_count))
    pe = draw(st.integers(ps, q.frame_count))  # past the video is an error (test_predictions)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "empty" or pe == ps:
        return Prediction.from_tube(None, query_id=q.query_id)
    if kind == "tube":
        count = draw(st.integers(0, min(pe - ps, 30)))
        frames = np.sort(rng.choice(np.arange(ps, pe), size=count, replace=False))
        return Prediction.from_tube(
            Tube(ps, pe, frames=frames, boxes=_boxes(rng, count, positive=False)),
            query_id=q.query_id,
        )
    frames = np.unique(rng.integers(0, q.frame_count, size=draw(st.integers(0, 40))))
    return Prediction(
        ps, pe, frames, _boxes(rng, len(frames), positive=False), query_id=q.query_id, mode="keyed"
    )


@SETTINGS
@given(q=hcstvg_query())
def test_perfect_hcstvg_prediction_scores_one_under_tubedetr(q: GTQuery) -> None:
    # TubeDETR's convention: span [st_frame, st_frame + n), bbox[k] on frame st_frame + k
    assume(q.st_frame + len(q.boxes) <= q.frame_count)  # that span must fit in the video
    perfect = Tube(
        q.st_frame,
        q.st_frame + len(q.boxes),
        frames=np.arange(q.st_frame, q.st_frame + len(q.boxes)),
        boxes=q.boxes,
    )
    report = evaluate([q], {q.query_id: perfect})
    r = report.per_query[0]
    assert r.tIoU == 1.0
    assume(r.n_frames > 0)  # the GT holds at least one 5-fps sampled frame
    assert r.vIoU == 1.0 and r.gt_vIoU == 1.0


@SETTINGS
@given(q=vidstg_query())
def test_perfect_vidstg_prediction_scores_one_under_tubedetr(q: GTQuery) -> None:
    report = evaluate([q], {q.query_id: Tube(q.start, q.end, frames=q.frames, boxes=q.boxes)})
    r = report.per_query[0]
    assert r.tIoU == 1.0
    assume(r.n_frames > 0)
    assert r.vIoU == 1.0 and r.gt_vIoU == 1.0


@st.composite
def dataset(draw):
    make = draw(st.sampled_from([hcstvg_query, vidstg_query]))
    queries = [draw(make(index=i)) for i in range(draw(st.integers(1, 6)))]
    preds = [draw(prediction_for(q)) for q in queries]
    return queries, [p for p in preds if p is not None]


@SETTINGS
@given(data=dataset(), protocol=st.sampled_from(["tubedetr", "stcat"]))
def test_scores_are_fractions(data, protocol: str) -> None:
    queries, preds = data
    report = evaluate(queries, preds, protocol=protocol)
    for r in report.per_query:
        for value in (r.tIoU, r.vIoU, r.gt_vIoU):
            assert 0.0 <= value <= 1.0
    for summary in report.summaries.values():
        for value in (
            summary.m_tIoU,
            summary.m_vIoU,
            summary.vIoU_03,
            summary.vIoU_05,
            summary.gt_vIoU,
        ):
            assert value is None or 0.0 <= value <= 1.0
    assert report.n_missing == len(queries) - len(preds)


@SETTINGS
@given(
    data=dataset(), protocol=st.sampled_from(["tubedetr", "stcat"]), seed=st.integers(0, 2**32 - 1)
)
def test_prediction_order_does_not_matter(data, protocol: str, seed: int) -> None:
    queries, preds = data
    shuffled = list(preds)
    np.random.default_rng(seed).shuffle(shuffled)
    a = evaluate(queries, preds, protocol=protocol)
    b = evaluate(queries, shuffled, protocol=protocol)
    assert a.per_query == b.per_query
    assert a.to_dict() == b.to_dict()
