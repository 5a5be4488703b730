"""Prediction readers, matching rules and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tubescope import GroundingResult, Tube
from tubescope.errors import PredictionError
from tubescope.eval import GTQuery, evaluate, match_predictions, read_predictions

BOX = [10.0, 20.0, 110.0, 220.0]


def hc(qid: str, st_frame: int = 50, n: int = 40, index: int = 0) -> GTQuery:
    return GTQuery(
        qid,
        qid,
        "a person",
        None,
        "hcstvg",
        200,
        10.0,
        640,
        360,
        st_frame - 1,
        st_frame - 1 + n,
        frames=np.arange(st_frame - 1, st_frame - 1 + n),
        boxes=[BOX] * n,
        index=index,
        st_frame=st_frame,
    )


def vid(qid: str, qtype: str = "declarative", video: str = "v") -> GTQuery:
    return GTQuery(
        qid,
        video,
        "x",
        qtype,
        "vidstg",
        300,
        25.0,
        640,
        480,
        60,
        150,
        frames=np.arange(60, 150),
        boxes=[BOX] * 90,
        index=int(qid),
        segment=(0, 299),
    )


def tube_json(start: int, end: int) -> dict:
    return Tube(start, end, frames=[start], boxes=[BOX]).to_dict()


def jsonl(tmp_path: Path, *objects, name: str = "p.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(o if isinstance(o, str) else json.dumps(o) for o in objects) + "\n")
    return path


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(PredictionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------------------------------- JSONL
def test_jsonl_lines_and_grounding_results(tmp_path: Path) -> None:
    result = GroundingResult(
        "a person", Tube(49, 89, frames=[49], boxes=[BOX]), video="/videos/b.mp4"
    )
    path = jsonl(
        tmp_path,
        {"video_id": "a.mp4", "tube": tube_json(49, 89)},
        "",
        result.to_dict(),
        {"query_id": "c", "tube": None},
    )
    preds = read_predictions(path)
    assert [(p.query_id, p.video_id, p.line, p.span) for p in preds] == [
        (None, "a.mp4", 1, (49.0, 89.0)),
        (None, "/videos/b.mp4", 3, (49.0, 89.0)),
        ("c", None, 4, (0.0, 0.0)),
    ]
    report = evaluate([hc("a"), hc("b", index=1), hc("c", index=2)], path, protocol="stcat")
    assert [r.vIoU for r in report.per_query] == pytest.approx([0.975, 0.975, 0.0])
    assert report.n_missing == 0  # tube null is an answer ("nothing found"), not missing


def test_grounding_result_line_with_query_id(tmp_path: Path) -> None:
    line = GroundingResult("x", Tube(60, 150, frames=[60], boxes=[BOX]), video="v.mp4").to_dict()
    line["query_id"] = "1"
    report = evaluate([vid("0"), vid("1", "interrogative")], jsonl(tmp_path, line))
    assert report.category("interrogative").m_tIoU == 1.0 and report.n_missing == 1


@pytest.mark.parametrize(
    "line, where",
    [
        ('{"video_id": "a", "tube": ', "line 2"),
        ("[1, 2]", "line 2: expected a JSON object"),
        ('{"video": "a", "tube": null}', "line 2, field 'video'"),
        ('{"video_id": "a"}', "line 2, field 'tube': missing"),
        (
            '{"video_id": "a", "tube": '
            '{"start_frame": 5, "end_frame": 5, "frames": [], "boxes": []}}',
            "line 2, field 'tube.end_frame'",
        ),
        ('{"video_id": "a", "tube": {"start_frame": 5}}', "line 2, field 'tube': Tube JSON lacks"),
        (
            '{"video_id": "a", "tube": '
            '{"start_frame": 1, "end_frame": 5, "frames": [1], "boxes": [[5, 0, 1, 1]]}}',
            "line 2, field 'tube.boxes[0]'",
        ),
        ('{"tube": null}', "line 2, field 'video_id'"),
        ('{"query": "", "video": "a"}', "line 2, field 'query'"),
        ('{"video_id": ["a"], "tube": null}', "line 2, field 'video_id'"),
    ],
)
def test_jsonl_errors_name_file_line_field(tmp_path: Path, line: str, where: str) -> None:
    path = jsonl(tmp_path, {"video_id": "b", "tube": None}, line)
    message = error_of(read_predictions, path)
    assert message.startswith(f"{path}, {where}"), message


# ------------------------------------------------------------------------------------- matching
def test_duplicate_predictions_are_an_error(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path,
        {"video_id": "a", "tube": None},
        {"video_id": "b", "tube": None},
        {"query_id": "a", "tube": None},
    )
    message = error_of(evaluate, [hc("a"), hc("b", index=1)], path)
    assert (
        message.startswith(f"{path}, line 3")
        and "second prediction for query 'a'" in message
        and "line 1" in message
    )


def test_ambiguous_video_needs_query_id(tmp_path: Path) -> None:
    path = jsonl(tmp_path, {"video_id": "v", "tube": None})
    message = error_of(evaluate, [vid("0"), vid("1", "interrogative")], path)
    assert (
        "line 1, field 'video_id'" in message
        and "has 2 ground-truth queries" in message
        and "query_id" in message
    )


def test_unknown_and_inconsistent_ids(tmp_path: Path) -> None:
    message = error_of(evaluate, [hc("a")], jsonl(tmp_path, {"query_id": "zz", "tube": None}))
    assert "line 1, field 'query_id'" in message and "'zz'" in message
    message = error_of(evaluate, [hc("a")], jsonl(tmp_path, {"video_id": "zz.mp4", "tube": None}))
    assert "no ground-truth query for video 'zz.mp4'" in message
    message = error_of(
        evaluate,
        [vid("0"), vid("1", video="w")],
        jsonl(tmp_path, {"query_id": "1", "video_id": "v", "tube": None}),
    )
    assert "does not match query '1'" in message


def test_matching_normalises_video_names_and_tubedetr_ids() -> None:
    from tubescope.eval import Prediction

    queries = [hc("55_vfjywN5CN0Y", index=0), hc("14_wfEOx36N4jA", index=1)]
    preds = [
        Prediction(1, 2, video_id="/data/videos/55_vfjywN5CN0Y.mp4"),
        Prediction(1, 2, query_id="1"),
    ]
    matched = match_predictions(queries, preds)
    assert matched[0] is preds[0] and matched[1] is preds[1]


# ------------------------------------------------------------------------------- official format
def test_official_format_is_inclusive_and_one_based(tmp_path: Path) -> None:
    pred = {
        "clip.mp4": {"st_frame": 50, "ed_frame": 89, "bbox": {str(f): BOX for f in range(50, 90)}}
    }
    path = tmp_path / "official.json"
    path.write_text(json.dumps(pred))
    [p] = read_predictions(path)
    assert (p.span, p.frames[0], p.frames[-1], p.mode) == ((49.0, 89.0), 49, 88, "keyed")
    report = evaluate([hc("clip")], path, protocol="stcat")
    assert report.m_tIoU == pytest.approx(0.975)
    [p0] = read_predictions(path, index_base=0)
    assert p0.span == (50.0, 90.0)


def test_official_format_errors(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"clip.mp4": {"st_frame": 9, "ed_frame": 5, "bbox": {}}}))
    assert (
        error_of(read_predictions, path) == f"{path}, field \"['clip.mp4'].ed_frame\": "
        "ed_frame precedes st_frame (both are inclusive)"
    )
    path.write_text(
        json.dumps({"clip.mp4": {"st_frame": 1, "ed_frame": 5, "bbox": {"3": [1, 2, 3]}}})
    )
    assert "field \"['clip.mp4'].bbox['3']\"" in error_of(read_predictions, path)
    path.write_text(
        '{"clip.mp4": {"st_frame": 1, "ed_frame": 5}, "clip.mp4": {"st_frame": 2, "ed_frame": 5}}'
    )
    assert "duplicate key 'clip.mp4'" in error_of(read_predictions, path)
    path.write_text(
        json.dumps(
            {"clip.mp4": {"st_frame": 1, "ed_frame": 5}, "clip.mkv": {"st_frame": 1, "ed_frame": 5}}
        )
    )
    assert "second prediction for query 'clip'" in error_of(evaluate, [hc("clip")], path)


# ------------------------------------------------------------------------------- TubeDETR format
def test_tubedetr_layout(tmp_path: Path) -> None:
    payload = {
        "videos": {"1": {"sted": [49.5, 89.0], "qtype": "interrogative"}, "a": {"sted": [0, 10]}},
        "frames": {
            "1_50": {"boxes": [BOX, [0, 0, 1, 1]]},
            "1_52": {"boxes": [BOX]},
            "a_3": {"boxes": [BOX]},
        },
    }
    path = tmp_path / "td.json"
    path.write_text(json.dumps(payload))
    preds = read_predictions(path)
    assert [(p.query_id, p.span, p.frames.tolist()) for p in preds] == [
        ("1", (49.5, 89.0), [50, 52]),
        ("a", (0.0, 10.0), [3]),
    ]
    assert preds[0].boxes[0].tolist() == BOX  # only the first box counts
    report = evaluate(
        [hc("a", index=0), hc("b", index=1)], path
    )  # "1" is TubeDETR's video_id of "b"
    b = report.per_query[1]
    assert b.tIoU == pytest.approx(39 / 40.5)  # GT [50, 90) vs [49.5, 89)
    assert b.gt_vIoU == pytest.approx(2 / 20)  # boxes only on 2 of the 20 sampled GT frames


def test_tubedetr_layout_errors(tmp_path: Path) -> None:
    path = tmp_path / "td.json"
    path.write_text(
        json.dumps({"videos": {"0": {"sted": [0, 1]}}, "frames": {"3_5": {"boxes": [BOX]}}})
    )
    assert (
        error_of(read_predictions, path)
        == f"{path}, field \"frames['3_5']\": video '3' has boxes but no 'sted' in 'videos'"
    )
    path.write_text(json.dumps({"videos": {"0": {"sted": [5, 1]}}, "frames": {}}))
    assert "field \"videos['0'].sted\"" in error_of(read_predictions, path)
    path.write_text(
        json.dumps({"videos": {"0": {"sted": [0, 5]}}, "frames": {"0_x": {"boxes": [BOX]}}})
    )
    assert "not an integer" in error_of(read_predictions, path)
    path.write_text(
        json.dumps({"videos": {"0": {"sted": [0, 5]}}, "frames": {"0_1": {"boxes": []}}})
    )
    assert "at least one box" in error_of(read_predictions, path)


def test_unrecognised_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"something": 1}')
    assert "unrecognised prediction format" in error_of(read_predictions, path)
    path.write_text("  \n")
    assert error_of(read_predictions, path) == f"{path}: file is empty"
    assert error_of(read_predictions, tmp_path / "none.jsonl").endswith("file not found")
    assert "unknown prediction format" in error_of(read_predictions, path, "csv")
