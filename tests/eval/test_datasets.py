"""The dataset table: look-ups, per-dataset facts, video files, and a dataset added through the
table alone (family, format and dataset records) that loads, scores and reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from tests.eval.builders import hcstvg_raw_record, write_json

from tubescope import Tube
from tubescope.cli.eval_cmd import eval_command
from tubescope.cli.main import cli
from tubescope.errors import AnnotationError, TubescopeError, VideoError
from tubescope.eval import evaluate, load_annotations
from tubescope.eval.annotations import GTQuery, read_annotations
from tubescope.eval.annotations.formats import (
    AnnotationFormat,
    detect_format,
    register_format,
    unregister_format,
)
from tubescope.eval.datasets import (
    Dataset,
    DatasetError,
    Family,
    StcatGT,
    VideoLayout,
    dataset_names,
    get_dataset,
    get_family,
    register_dataset,
    register_family,
    unregister_family,
)

BOX = [10.0, 20.0, 110.0, 220.0]


# ------------------------------------------------------------------------------ look-ups
def test_unknown_names_fail_in_one_line_listing_the_choices(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        get_dataset("hcstvg-v3")
    choices = "choose from hcstvg-v1, hcstvg-v2, vidstg"
    assert str(info.value) == f"unknown dataset 'hcstvg-v3'; {choices}"
    assert isinstance(info.value, TubescopeError) and isinstance(info.value, ValueError)
    with pytest.raises(DatasetError, match="unknown dataset family 'x'; choose from hcstvg, vid"):
        get_family("x")
    with pytest.raises(DatasetError, match="choose from hcstvg-v1, hcstvg-v2, vidstg"):
        evaluate([], {}, dataset="vidstg-v2")
    path = write_json(tmp_path / "t.json", {"v.mp4": hcstvg_raw_record(100, 1, np.array([BOX]))})
    with pytest.raises(AnnotationError, match=rf"^{path}: unknown dataset 'nope'; choose from"):
        load_annotations(path, "nope")


def test_the_table_holds_each_dataset_s_facts() -> None:
    assert dataset_names() == ("hcstvg-v1", "hcstvg-v2", "vidstg")
    assert [get_dataset(n).window for n in dataset_names()] == [8, 11, 6]  # frames_thre + 1
    assert [get_dataset(n).family for n in dataset_names()] == ["hcstvg", "hcstvg", "vidstg"]
    assert get_dataset("hcstvg-v1").paper_lowercase and not get_dataset("vidstg").paper_lowercase
    assert get_family("vidstg").categories == ("declarative", "interrogative")
    assert get_family("hcstvg").categories == () and not get_family("hcstvg").segments
    assert get_family("vidstg").segments
    assert get_dataset("vidstg").formats == ("vidstg-official", "vidstg-tubedetr")


def test_segment_span_is_half_open_and_clipped() -> None:
    vidstg, hcstvg = get_family("vidstg"), get_family("hcstvg")
    assert vidstg.segment_span((10, 99), 100) == (10, 100)  # end_fid inclusive
    assert vidstg.segment_span((10, 150), 100) == (10, 100)  # clipped to the decoded video
    assert vidstg.segment_span((120, 150), 100) is None and vidstg.segment_span(None, 100) is None
    assert hcstvg.segment_span((10, 99), 100) is None  # no segments: the whole video


def test_video_files_flat_nested_missing_and_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "a.mkv").write_bytes(b"x")
    (tmp_path / "g1").mkdir()
    (tmp_path / "g1" / "b.mp4").write_bytes(b"x")
    (tmp_path / "g2").mkdir()
    (tmp_path / "g1" / "c.mp4").write_bytes(b"x")
    (tmp_path / "g2" / "c.webm").write_bytes(b"x")
    files = get_dataset("vidstg").videos.files(tmp_path)
    assert files.resolve("a") == tmp_path / "a.mkv"
    assert files.resolve("a.mkv") == tmp_path / "a.mkv"
    assert files.resolve("b") == tmp_path / "g1" / "b.mp4"
    with pytest.raises(VideoError, match="2 files match"):
        files.resolve("c")
    with pytest.raises(VideoError, match="no video file for 'zz'.*expected layout: VidOR"):
        files.resolve("zz")
    flat = VideoLayout("clips/<id>.mp4", nested=False)
    with pytest.raises(VideoError, match="no video file for 'b'"):
        flat.resolve(tmp_path, "b")  # not searched in sub-directories
    with pytest.raises(VideoError, match="videos directory not found"):
        flat.resolve(tmp_path / "missing", "a")


def test_registration_conflicts_are_errors() -> None:
    clash = Family("hcstvg", "HC-STVG", lambda q: np.arange(1), lambda q: StcatGT(q.end))
    with pytest.raises(DatasetError, match="family 'hcstvg' is already registered"):
        register_family(clash)
    orphan = Dataset("x", "nope", "X", "test", ("hcstvg-raw",), 4, VideoLayout("x/"))
    with pytest.raises(DatasetError, match="unknown family 'nope'; register it first"):
        register_dataset(orphan)


def test_cli_dataset_choices_are_the_table() -> None:
    option = next(p for p in eval_command.params if p.name == "dataset")
    assert tuple(option.type.choices) == dataset_names()


# ----------------------------------------------------------- a dataset added through the table
def _toy_load(data: Any, path: str | None, boxes_dir: Any) -> list[GTQuery]:
    return [
        GTQuery(
            str(k), rec["clip"], rec["text"], rec["place"], "toy", rec["frames"], 10.0, 64, 64,
            rec["toy_tube"][0], rec["toy_tube"][1],
            frames=range(*rec["toy_tube"]), boxes=[BOX] * (rec["toy_tube"][1] - rec["toy_tube"][0]),
            source=path,
        )
        for k, rec in enumerate(data)
    ]  # fmt: skip


@pytest.fixture
def toy() -> Iterator[Dataset]:
    family = Family(
        name="toy",
        title="Toy",
        tubedetr_frames=lambda q: np.arange(0, q.frame_count, 2),  # every other frame
        stcat_gt=lambda q: StcatGT(q.end - 1),
        categories=("indoor", "outdoor"),
    )
    fmt = AnnotationFormat(
        name="toy-json",
        family="toy",
        description='toy json ([{"toy_tube", "clip", ...}])',
        shape="records",
        signature=("toy_tube",),
        load=_toy_load,
    )
    dataset = Dataset("toy", "toy", "Toy", "test", ("toy-json",), 4, VideoLayout("toys/<id>.mp4"))
    register_family(family)
    register_format(fmt)
    register_dataset(dataset)
    try:
        yield dataset
    finally:
        unregister_format("toy-json")
        unregister_family("toy")


def test_a_dataset_added_through_the_table_loads_scores_and_reports(toy, tmp_path: Path) -> None:
    records = [
        {"clip": "a", "text": "a cat jumps", "place": "indoor", "frames": 40, "toy_tube": [10, 20]},
        {"clip": "b", "text": "a dog runs", "place": "outdoor", "frames": 40, "toy_tube": [0, 8]},
        {"clip": "c", "text": "a bird sits", "place": "outdoor", "frames": 40, "toy_tube": [5, 9]},
    ]
    ann = write_json(tmp_path / "toy.json", records)
    assert detect_format(records).name == "toy-json"
    loaded = read_annotations(ann, "toy")
    assert [q.qtype for q in loaded.queries] == ["indoor", "outdoor", "outdoor"]
    preds = {"0": Tube(10, 20, frames=[10], boxes=[BOX]), "1": Tube(0, 4, frames=[0], boxes=[BOX])}
    report = evaluate(ann, preds, dataset="toy")
    d = report.to_dict()
    assert list(d) == ["indoor", "outdoor", "n_queries", "n_missing", "protocol"]
    assert d["indoor"]["m_tIoU"] == 1.0 and d["indoor"]["m_vIoU"] == 1.0
    assert d["outdoor"]["n_queries"] == 2 and d["outdoor"]["n_missing"] == 1
    assert d["outdoor"]["m_tIoU"] == (0.5 + 0.0) / 2  # [0, 4) against [0, 8); c is missing
    stcat = evaluate(ann, preds, dataset="toy", protocol="stcat").to_dict()
    assert stcat["n_stcat_would_drop"] == 0 and stcat["indoor"]["m_tIoU"] == 9 / 10
    # the command line takes it as a --dataset choice and prints its categories
    pred = tmp_path / "p.jsonl"
    pred.write_text(json.dumps({"query_id": "0", "video_id": "a", "tube": preds["0"].to_dict()}))
    result = CliRunner().invoke(
        cli, ["eval", "--dataset", "toy", "--annotations", str(ann), "--predictions", str(pred)]
    )
    assert result.exit_code == 0, result.output
    assert "indoor" in result.output and "outdoor" in result.output
    # a file of another family is refused for it, naming what the file is
    other = write_json(tmp_path / "t.json", {"v.mp4": hcstvg_raw_record(100, 1, np.array([BOX]))})
    with pytest.raises(AnnotationError, match="this is a hcstvg annotation file.*not toy"):
        load_annotations(other, "toy")
    (tmp_path / "toys").mkdir()
    (tmp_path / "toys" / "a.mp4").write_bytes(b"x")
    assert toy.videos.resolve(tmp_path / "toys", "a") == tmp_path / "toys" / "a.mp4"
