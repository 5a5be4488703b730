"""Hand-computed cases for every convention (docs/evaluation.md, "Conventions")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tubescope import GroundingResult, Tube
from tubescope.eval import (
    GTQuery,
    Prediction,
    box_iou,
    evaluate,
    hcstvg_sampled_frames,
    vidstg_sampled_frames,
)

BOX = [10.0, 20.0, 110.0, 220.0]


def hc_query(
    st_frame: int = 50, n_boxes: int = 40, img_num: int = 200, boxes=None, qid: str = "clip"
) -> GTQuery:
    """An HC-STVG query as the raw json describes it (1-based st_frame)."""
    start = st_frame - 1
    boxes = [BOX] * n_boxes if boxes is None else boxes
    return GTQuery(
        qid,
        qid,
        "a person",
        None,
        "hcstvg",
        img_num,
        img_num / 20,
        640,
        360,
        start,
        start + n_boxes,
        frames=np.arange(start, start + n_boxes),
        boxes=boxes,
        st_frame=st_frame,
    )


def vid_query(
    qid: str,
    qtype: str,
    gt=(60, 150),
    segment=(0, 299),
    fps=29.97,
    frame_count=300,
    boxes=None,
    end_box=None,
) -> GTQuery:
    n = gt[1] - gt[0]
    return GTQuery(
        qid,
        "0000000001",
        "an adult leans on a dog",
        qtype,
        "vidstg",
        frame_count,
        fps,
        640,
        480,
        gt[0],
        gt[1],
        frames=np.arange(*gt),
        boxes=[BOX] * n if boxes is None else boxes,
        segment=segment,
        end_box=end_box,
    )


def tube(start: int, end: int, box=BOX) -> Tube:
    return Tube(start, end, frames=[start], boxes=[box])


# ------------------------------------------------------------ the worked example of the docs
def test_tubedetr_own_indexing_is_perfect() -> None:
    # 10 fps: TubeDETR samples the even frames; its GT is [st_frame, st_frame + 40) = [50, 90)
    rng = np.random.default_rng(0)
    boxes = np.cumsum(rng.uniform(0, 2, (40, 4)), axis=0) + [0, 0, 60, 80]
    q = hc_query(boxes=boxes)
    # a perfect prediction in TubeDETR's convention: bbox[k] on frame st_frame + k
    report = evaluate([q], {"clip": Tube(50, 90, frames=np.arange(50, 90), boxes=boxes)})
    assert (report.m_tIoU, report.m_vIoU, report.gt_vIoU) == (1.0, 1.0, 1.0)
    assert report.per_query[0].n_frames == 20  # 20 sampled GT frames evaluated
    assert len(hcstvg_sampled_frames(200)) == 100


def test_tubedetr_zero_based_truth_loses_tiou_not_viou() -> None:
    report = evaluate([hc_query()], {"clip": tube(49, 89)})  # the true 0-based tube
    assert report.m_tIoU == pytest.approx(39 / 41, abs=1e-15)
    assert report.m_vIoU == 1.0  # the shift is invisible to vIoU at 5 fps


def test_stcat_perfect_tube_scores_39_over_40() -> None:
    report = evaluate([hc_query()], {"clip": tube(49, 89)}, protocol="stcat")
    assert report.m_tIoU == pytest.approx(0.975, abs=1e-15)
    assert report.m_vIoU == pytest.approx(0.975, abs=1e-15)
    assert report.gt_vIoU == 1.0


def test_stcat_inclusive_end_prediction_scores_one() -> None:
    # STCAT sted [49, 88] taken as its exclusive-end input, i.e. our Tube(49, 88)
    report = evaluate([hc_query()], {"clip": tube(49, 88)}, protocol="stcat")
    assert (report.m_tIoU, report.m_vIoU) == (1.0, 1.0)


def test_vidstg_tiou_on_raw_frames_viou_on_samples() -> None:
    queries = [vid_query("0", "declarative"), vid_query("1", "interrogative")]
    report = evaluate(queries, {"0": tube(100, 200), "1": tube(60, 150)})
    decl, inter = report.category("declarative"), report.category("interrogative")
    assert decl.m_tIoU == pytest.approx(50 / 140, abs=1e-15)
    assert decl.m_vIoU == pytest.approx(8 / 24, abs=1e-15)
    assert len(vidstg_sampled_frames(0, 299, 29.97)) == 50
    assert vidstg_sampled_frames(0, 299, 29.97)[:3].tolist() == [0, 6, 12]
    assert (inter.m_tIoU, inter.m_vIoU) == (1.0, 1.0)
    assert report.m_vIoU is None  # never pooled
    d = report.to_dict()
    assert set(d) == {"declarative", "interrogative", "n_queries", "n_missing", "protocol"}


# ------------------------------------------------------------------------------------ sampling
def test_frame_count_104_keeps_frame_27_not_26() -> None:
    rate = 5 / (104 / 20)
    assert int(26 * rate) == 24 == int(25 * rate)  # float64: 26 * rate = 24.999999999999996
    frames = hcstvg_sampled_frames(104).tolist()
    assert 27 in frames and 26 not in frames
    # exact rational arithmetic would keep 26 instead
    from fractions import Fraction

    exact = [0]
    for f in range(0, 103):
        if int(exact[-1] * Fraction(100, 104)) < int(f * Fraction(100, 104)):
            exact.append(f)
    assert 26 in exact and 27 not in exact
    # consequence: a one-box GT on TubeDETR frame 26 has no evaluated frame, one on 27 has one
    on_26 = evaluate([hc_query(st_frame=26, n_boxes=1, img_num=104)], {"clip": tube(26, 27)})
    on_27 = evaluate([hc_query(st_frame=27, n_boxes=1, img_num=104)], {"clip": tube(27, 28)})
    assert on_26.per_query[0].n_frames == 0 and on_26.m_vIoU == 0.0
    assert on_27.per_query[0].n_frames == 1 and on_27.m_vIoU == 1.0


def test_last_frame_never_sampled() -> None:
    assert hcstvg_sampled_frames(100).tolist() == list(range(99))  # 5 fps: every frame but the last
    assert vidstg_sampled_frames(0, 10, 5.0).tolist() == list(range(10))  # end_fid excluded


def test_200_frame_cap_thins_long_segments() -> None:
    frames = vidstg_sampled_frames(0, 3000, 25.0)  # 600 candidates at 5 fps
    assert len(frames) == 200
    assert frames[:4].tolist() == [0, 15, 30, 45]  # frame_ids[(j * 600) // 200]
    # GT at 5-fps frames 5 and 10 is never evaluated once thinned
    q = vid_query("0", "declarative", gt=(5, 11), segment=(0, 3000), fps=25.0, frame_count=3001)
    report = evaluate([q], {"0": tube(5, 11)})
    assert report.per_query[0].n_frames == 0
    assert report.category("declarative").m_tIoU == 1.0


# ---------------------------------------------------------------------------- spans, thresholds
def test_touching_spans_score_zero() -> None:
    q = vid_query("0", "declarative", gt=(60, 150))
    for protocol in ("tubedetr", "stcat"):
        report = evaluate([q], {"0": tube(150, 200)}, protocol=protocol)
        s = report.category("declarative")
        assert (s.m_tIoU, s.m_vIoU) == (0.0, 0.0)


@pytest.mark.parametrize(
    "height, at_03, at_05",
    [(5.0, 1.0, 0.0), (3.0, 0.0, 0.0), (5.0001, 1.0, 1.0), (3.0001, 1.0, 0.0)],
)
def test_thresholds_are_strict(height: float, at_03: float, at_05: float) -> None:
    # fps 5: every frame is sampled; one GT frame whose IoU is height / 10
    q = vid_query(
        "0",
        "declarative",
        gt=(10, 11),
        segment=(0, 100),
        fps=5.0,
        frame_count=100,
        boxes=[[0, 0, 10, 10]],
    )
    for protocol in ("tubedetr", "stcat"):
        s = evaluate(
            [q], {"0": Tube(10, 11, frames=[10], boxes=[[0, 0, 10, height]])}, protocol=protocol
        )
        s = s.category("declarative")
        if height in (5.0, 3.0):
            assert s.m_vIoU == height / 10  # exactly 0.5 / 0.3: not counted
        assert (s.vIoU_03, s.vIoU_05) == (at_03, at_05)


def test_missing_prediction_scores_zero_and_is_counted() -> None:
    queries = [hc_query(qid="a"), hc_query(qid="b")]
    for protocol in ("tubedetr", "stcat"):
        report = evaluate(queries, {"a": tube(50, 90)}, protocol=protocol)
        assert report.n_missing == 1 and report.n_queries == 2
        missing = [r for r in report.per_query if r.missing]
        assert [(r.query_id, r.tIoU, r.vIoU, r.gt_vIoU, r.pred_span) for r in missing] == [
            ("b", 0.0, 0.0, 0.0, None)
        ]
        assert report.m_vIoU == pytest.approx(report.per_query[0].vIoU / 2)


def test_gt_frame_without_predicted_box_scores_zero() -> None:
    q = vid_query("0", "declarative", gt=(10, 20), segment=(0, 100), fps=5.0, frame_count=100)
    # keyed prediction (TubeDETR file style) with boxes on 10..14 only
    pred = Prediction(10, 20, frames=np.arange(10, 15), boxes=[BOX] * 5, query_id="0", mode="keyed")
    s = evaluate([q], [pred]).category("declarative")
    assert s.m_vIoU == pytest.approx(0.5) and s.gt_vIoU == pytest.approx(0.5)
    # a tube with no boxes at all
    s = evaluate([q], {"0": Tube(10, 20)}).category("declarative")
    assert (s.m_tIoU, s.m_vIoU, s.gt_vIoU) == (1.0, 0.0, 0.0)
    # STCAT interpolates between keyed frames but never beyond them
    sparse = Prediction(10, 20, frames=[10, 14], boxes=[BOX, BOX], query_id="0", mode="keyed")
    s = evaluate([q], [sparse], protocol="stcat").category("declarative")
    # GT [10, 20] inclusive (box on 20 duplicated): frames 10..14 scored, union range(10, 20)
    assert s.m_vIoU == pytest.approx(5 / 10) and s.gt_vIoU == pytest.approx(5 / 11)


def test_tube_boxes_are_interpolated_and_held_inside_the_span() -> None:
    q = vid_query("0", "declarative", gt=(10, 20), segment=(0, 100), fps=5.0, frame_count=100)
    t = Tube(10, 20, frames=[12, 16], boxes=[BOX, BOX])  # held before 12 and after 16
    s = evaluate([q], {"0": t}).category("declarative")
    assert (s.m_vIoU, s.gt_vIoU) == (1.0, 1.0)
    # outside the span there is no box: gt_vIoU counts those GT frames as 0
    s = evaluate([q], {"0": Tube(10, 15, frames=[10], boxes=[BOX])}).category("declarative")
    assert s.gt_vIoU == pytest.approx(0.5) and s.m_vIoU == pytest.approx(0.5)


def test_qtype_comes_from_ground_truth(tmp_path: Path) -> None:
    queries = [vid_query("0", "declarative"), vid_query("1", "interrogative")]
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"query_id": "0", "qtype": "interrogative", "tube": tube(60, 150).to_dict()})
        + "\n"
        + json.dumps({"query_id": "1", "qtype": "declarative", "tube": tube(0, 10).to_dict()})
        + "\n"
    )
    report = evaluate(queries, path, dataset="vidstg")
    assert report.category("declarative").m_tIoU == 1.0
    assert report.category("interrogative").m_tIoU == 0.0


def test_vidstg_stcat_end_frame_is_inclusive() -> None:
    boxes = [BOX] * 90
    other = [0.0, 0.0, 5.0, 5.0]
    # STCAT's GT is [60, 150] inclusive: 91 frames, but its length counts as 90 in tIoU
    q = vid_query("0", "declarative", gt=(60, 150), boxes=boxes, end_box=other)
    r = evaluate([q], {"0": tube(60, 150)}, protocol="stcat").per_query[0]
    assert (r.n_frames, r.tIoU, r.vIoU) == (91, 1.0, 1.0)
    assert r.gt_vIoU == pytest.approx(90 / 91)  # frame 150 is outside the predicted span
    # the VidOR box on end_fid = 150 (different from the prediction) is a GT frame
    r = evaluate([q], {"0": tube(60, 151)}, protocol="stcat").per_query[0]
    assert r.tIoU == pytest.approx(90 / 91) and r.gt_vIoU == pytest.approx(90 / 91)
    assert r.vIoU == pytest.approx(90 / 91)  # range(max_start, min_end) stops before frame 150
    # no VidOR box on end_fid: the box of frame 149 is duplicated
    q = vid_query("0", "declarative", gt=(60, 150), boxes=boxes)
    r = evaluate([q], {"0": tube(60, 151)}, protocol="stcat").per_query[0]
    assert (r.n_frames, r.gt_vIoU) == (91, 1.0)
    # TubeDETR keeps end_fid exclusive
    r = evaluate([q], {"0": tube(60, 150)}).per_query[0]
    assert (r.tIoU, r.vIoU, r.gt_vIoU) == (1.0, 1.0, 1.0)
    # used_segment ends at 120: STCAT's GT becomes [60, 120]
    q = vid_query("0", "declarative", gt=(60, 150), boxes=boxes, segment=(0, 120))
    r = evaluate([q], {"0": tube(60, 120)}, protocol="stcat").per_query[0]
    assert (r.n_frames, r.tIoU, r.vIoU) == (61, 1.0, 1.0)
    # end_fid == frame_count: STCAT's last frame is frame_count - 1 = end_fid - 1
    q = vid_query("0", "declarative", gt=(60, 300), boxes=[BOX] * 240, segment=(0, 299))
    r = evaluate([q], {"0": tube(60, 300)}, protocol="stcat").per_query[0]
    assert r.n_frames == 240 and r.tIoU == pytest.approx(239 / 240)


def test_stcat_needs_integer_spans() -> None:
    q = hc_query()
    pred = Prediction(49.5, 89.0, query_id="clip", mode="keyed", path="p.json", field="videos['0']")
    assert 0 < evaluate([q], [pred]).m_tIoU < 1  # TubeDETR accepts float sted
    with pytest.raises(Exception, match=r"p\.json.*videos\['0'\].*integer span"):
        evaluate([q], [pred], protocol="stcat")


def test_zero_area_boxes_give_zero_not_nan() -> None:
    point = np.array([[5.0, 5.0, 5.0, 5.0]])
    assert box_iou(point, point).tolist() == [0.0]
    line = np.array([[0.0, 0.0, 10.0, 0.0]])
    assert box_iou(line, line).tolist() == [0.0]
    q = vid_query(
        "0",
        "declarative",
        gt=(10, 11),
        segment=(0, 20),
        fps=5.0,
        frame_count=20,
        boxes=[[5, 5, 5, 5]],
    )
    s = evaluate([q], {"0": Tube(10, 11, frames=[10], boxes=[[5, 5, 5, 5]])}).category(
        "declarative"
    )
    assert s.m_vIoU == 0.0 and s.gt_vIoU == 0.0 and s.m_tIoU == 1.0


def test_box_iou_has_no_plus_one() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0]])
    assert box_iou(a, b).tolist() == [50 / 150]


def test_grounding_results_are_accepted() -> None:
    q = hc_query()
    result = GroundingResult("a person", tube(49, 89), video="/data/clip.mp4")
    assert evaluate([q], [result], protocol="stcat").m_vIoU == pytest.approx(0.975)
    assert evaluate([q], {"clip": result}, protocol="stcat").m_vIoU == pytest.approx(0.975)
    empty = GroundingResult("a person", None, video="clip.mp4")  # no answer: 0, not missing
    report = evaluate([q], [empty])
    assert (report.m_vIoU, report.n_missing) == (0.0, 0)
