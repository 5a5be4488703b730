"""Report shape: exact JSON keys, VidSTG categories, per-query results, API argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from tubescope import Tube
from tubescope.errors import AnnotationError
from tubescope.eval import GTQuery, evaluate

BOX = [0.0, 0.0, 10.0, 10.0]
KEYS = ["m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5", "gt_vIoU", "n_queries", "n_missing", "protocol"]


def hc(qid: str) -> GTQuery:
    return GTQuery(
        qid,
        qid,
        "x",
        None,
        "hcstvg",
        500,
        25.0,
        64,
        64,
        100,
        150,
        frames=np.arange(100, 150),
        boxes=[BOX] * 50,
        st_frame=101,
    )


def vid(qid: str, qtype: str) -> GTQuery:
    return GTQuery(
        qid,
        "v",
        "x",
        qtype,
        "vidstg",
        300,
        25.0,
        64,
        64,
        50,
        100,
        frames=np.arange(50, 100),
        boxes=[BOX] * 50,
        index=int(qid),
        segment=(0, 299),
    )


def test_hcstvg_to_dict_has_exactly_the_keys() -> None:
    report = evaluate(
        [hc("a"), hc("b")], {"a": Tube(101, 151, frames=[101], boxes=[BOX])}, dataset="hcstvg-v2"
    )
    d = report.to_dict()
    assert list(d) == KEYS
    assert d == {
        "m_tIoU": 0.5,
        "m_vIoU": 0.5,
        "vIoU@0.3": 0.5,
        "vIoU@0.5": 0.5,
        "gt_vIoU": 0.5,
        "n_queries": 2,
        "n_missing": 1,
        "protocol": "tubedetr",
    }
    assert (report.m_tIoU, report.vIoU_05, report.dataset) == (0.5, 0.5, "hcstvg-v2")
    assert list(report.summaries) == ["all"]
    assert "n_missing=1" in repr(report)


def test_vidstg_categories_and_empty_category() -> None:
    report = evaluate(
        [vid("0", "declarative"), vid("1", "declarative")],
        {"0": Tube(50, 100, frames=[50], boxes=[BOX])},
    )
    d = report.to_dict()
    assert list(d) == ["declarative", "interrogative", "n_queries", "n_missing", "protocol"]
    assert list(d["declarative"]) == KEYS and d["declarative"]["m_vIoU"] == 0.5
    assert d["interrogative"] == {k: None for k in KEYS[:5]} | {
        "n_queries": 0,
        "n_missing": 0,
        "protocol": "tubedetr",
    }
    assert report.m_vIoU is None  # VidSTG is never pooled
    with pytest.raises(KeyError):
        report.category("all")


def test_per_query_results() -> None:
    report = evaluate(
        [hc("a"), hc("b")], {"b": Tube(101, 126, frames=[101], boxes=[BOX])}, protocol="stcat"
    )
    a, b = report.per_query
    assert (a.query_id, a.missing, a.pred_span, a.gt_span) == ("a", True, None, (100, 150))
    assert (b.missing, b.pred_span, b.n_frames) == (False, (101.0, 126.0), 50)
    assert b.tIoU == pytest.approx(25 / 49)  # STCAT: GT [100, 149] inclusive counts 49


def test_api_argument_checks() -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate([hc("a")], {}, protocol="doro")
    with pytest.raises(AnnotationError, match="not vidstg"):
        evaluate([hc("a")], {}, dataset="vidstg")
    with pytest.raises(AnnotationError, match="duplicate query_id"):
        evaluate([hc("a"), hc("a")], {})
    with pytest.raises(AnnotationError, match="mix datasets"):
        evaluate([hc("a"), vid("1", "declarative")], {})
