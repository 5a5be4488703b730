"""``tubescope eval``: output files, table and the one-line error / exit code 2 policy."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from tests.eval.builders import hcstvg_raw_record, vidor_file, vidstg_entry, write_json

from tubescope import Tube
from tubescope.cli.main import cli

BOX = [10.0, 20.0, 110.0, 220.0]
KEYS = {"m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5", "gt_vIoU", "n_queries", "n_missing", "protocol"}


def _hcstvg(tmp_path: Path) -> tuple[Path, Path]:
    raw = {f"{i}_clip.mp4": hcstvg_raw_record(200, 50, np.array([BOX] * 40)) for i in range(3)}
    ann = write_json(tmp_path / "test.json", raw)
    pred = tmp_path / "pred.jsonl"
    pred.write_text(
        json.dumps(
            {"video_id": "0_clip.mp4", "tube": Tube(49, 89, frames=[49], boxes=[BOX]).to_dict()}
        )
        + "\n"
        + json.dumps({"video_id": "1_clip", "tube": Tube(0, 20, frames=[0], boxes=[BOX]).to_dict()})
        + "\n"
    )
    return ann, pred


def test_eval_hcstvg_writes_json_csv_and_plots(tmp_path: Path) -> None:
    ann, pred = _hcstvg(tmp_path)
    out, per_query, plots = tmp_path / "r.json", tmp_path / "q.csv", tmp_path / "plots"
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--dataset",
            "hcstvg-v1",
            "--annotations",
            str(ann),
            "--predictions",
            str(pred),
            "--protocol",
            "stcat",
            "--json-out",
            str(out),
            "--per-query",
            str(per_query),
            "--plots",
            str(plots),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "97.5" in result.output or "32.5" in result.output  # the table prints percentages
    assert "1 of 3 queries have no prediction" in result.output
    data = json.loads(out.read_text())
    assert set(data) == KEYS | {"n_stcat_would_drop"}  # the stcat protocol counts its drops
    assert data["n_stcat_would_drop"] == 0
    assert data["n_queries"] == 3 and data["n_missing"] == 1 and data["protocol"] == "stcat"
    assert data["m_vIoU"] == 0.975 / 3
    rows = list(csv.DictReader(per_query.open()))
    assert [r["query_id"] for r in rows] == ["0_clip", "1_clip", "2_clip"]
    assert rows[2]["missing"] == "1" and rows[2]["pred_start"] == ""
    assert float(rows[0]["vIoU"]) == 0.975
    assert sorted(p.name for p in plots.iterdir()) == ["tiou_vs_viou.png", "viou_hist.png"]
    assert (plots / "viou_hist.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_vidstg_nests_categories(tmp_path: Path) -> None:
    track = {f: BOX for f in range(60, 150)}
    (tmp_path / "vidor" / "0001").mkdir(parents=True)
    write_json(tmp_path / "vidor" / "0001" / "v1.json", vidor_file(300, {0: track}))
    entries = [
        vidstg_entry(
            "v1",
            29.97,
            300,
            (0, 299),
            (60, 150),
            captions=[("a dog runs.", 0)],
            questions=[("what runs?", 0)],
        )
    ]
    ann = write_json(tmp_path / "test_annotations.json", entries)
    pred = tmp_path / "p.jsonl"
    pred.write_text(
        json.dumps({"query_id": "1", "tube": Tube(60, 150, frames=[60], boxes=[BOX]).to_dict()})
        + "\n"
    )
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--dataset",
            "vidstg",
            "--annotations",
            str(ann),
            "--boxes",
            str(tmp_path / "vidor"),
            "--predictions",
            str(pred),
            "--json-out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "declarative" in result.output and "interrogative" in result.output
    data = json.loads(out.read_text())
    assert set(data) == {"declarative", "interrogative", "n_queries", "n_missing", "protocol"}
    assert set(data["declarative"]) == KEYS
    assert data["declarative"]["m_tIoU"] == 1.0 and data["interrogative"]["n_missing"] == 1


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    ann, pred = _hcstvg(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video_id": "0_clip", "tube": null}\n{"video_id": 3\n')
    runner = CliRunner()
    cases = [
        (["--annotations", str(ann), "--predictions", str(bad)], f"{bad}, line 2"),
        (
            ["--annotations", str(tmp_path / "missing.json"), "--predictions", str(pred)],
            f"{tmp_path / 'missing.json'}: file not found",
        ),
        (["--annotations", str(pred), "--predictions", str(pred)], f"{pred}: not valid JSON"),
    ]
    for args, expected in cases:
        result = runner.invoke(cli, ["eval", "--dataset", "hcstvg-v1", *args])
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (
            result.output
        )
    result = runner.invoke(
        cli, ["eval", "--dataset", "vidstg", "--annotations", str(ann), "--predictions", str(pred)]
    )
    assert result.exit_code == 2 and "not vidstg" in result.output
