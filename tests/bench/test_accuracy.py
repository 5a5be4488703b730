"""bench/accuracy.py on a random-weight tiny model: one table row and one JSON row per setting,
metrics in range, and the settings really differ where they should."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.script_module import load_script

A = load_script("bench/accuracy.py", "bench_accuracy")


def test_random_model_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "accuracy.json"
    chosen = "default,paper-native,span topk"
    assert A.main(["--random", "--clips", "2", "--settings", chosen, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    names = [r["setting"] for r in doc["rows"]]
    assert names == chosen.split(",")
    for row in doc["rows"]:
        for key in ("m_tIoU", "m_vIoU", "vIoU@0.5", "track_acc_attribute", "track_acc_description"):
            assert 0.0 <= row[key] <= 1.0
        assert row["queries"] == doc["queries"] >= 2 * 3  # 2-3 attribute queries + 1 description per clip
    configs = {r["setting"]: r["config"] for r in doc["rows"]}
    assert configs["paper-native"]["backend_options"]["duplicate_frames"] is True
    assert configs["default"]["num_frames"] == doc["frames"] == 8
    assert configs["span topk"]["temporal_strategy"] == "topk"
    printed = capsys.readouterr().out
    assert all(line in printed for line in doc["table"])
    assert doc["table"][0].split()[:3] == ["setting", "m_tIoU", "m_vIoU"]


def test_clips_are_deterministic_and_ask_every_shape() -> None:
    first, again = A.make_clips(2, seed=3), A.make_clips(2, seed=3)
    for (clip, _, queries), (clip2, _, queries2) in zip(first, again, strict=True):
        assert [o.name for o in clip.objects] == [o.name for o in clip2.objects]
        assert queries == queries2
        attribute = [q for q in queries if q.kind == "attribute"]
        assert sorted(q.target for q in attribute) == [o.track_id for o in clip.objects]
        assert 2 <= len(clip.objects) <= 3
        assert sum(q.kind == "description" for q in queries) == 1


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown setting"):
        A.run(tmp_path, settings=["nope"], out=None)
