"""The fast readers give exactly what the precise readers give, and decline everything else
(so every error message is still the precise one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.eval.builders import hcstvg_raw_record, random_walk_boxes, write_json

from tubescope import Tube
from tubescope.errors import AnnotationError, PredictionError
from tubescope.eval import load_annotations, read_predictions
from tubescope.eval.annotations.formats import hcstvg_raw
from tubescope.eval.annotations.record import mark_repeated_keys
from tubescope.eval.fastjson import decode_list_of_records, integer_column, numeric_column
from tubescope.eval.fastjsonl import read_jsonl_fast
from tubescope.eval.predictions import parse_jsonl

FIELDS = ("query_id", "video_id", "query", "qtype", "dataset", "frame_count", "fps", "width",
          "height", "start", "end", "index", "st_frame", "segment", "target_id",
          "source")  # fmt: skip


def _raw(rng: np.random.Generator, n: int, v2: bool = False, integer: bool = True) -> dict:
    out = {}
    for i in range(n):
        frame_count = int(rng.integers(50, 700))
        length = int(rng.integers(1, frame_count // 2))
        st = int(rng.integers(1, frame_count - length + 2))
        boxes = random_walk_boxes(rng, length, integer=integer)
        out[f"{i}_v{i}.mp4"] = hcstvg_raw_record(frame_count, st, boxes, v2=v2, caption=f"c: {i}")
    return out


def _same_queries(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert [getattr(x, f) for f in FIELDS] == [getattr(y, f) for f in FIELDS]
        assert np.array_equal(x.frames, y.frames) and x.frames.dtype == y.frames.dtype
        assert np.array_equal(x.boxes, y.boxes) and x.boxes.dtype == y.boxes.dtype
        assert not x.boxes.flags.writeable and not x.frames.flags.writeable


@pytest.mark.parametrize("v2, integer", [(False, True), (True, True), (False, False)])
def test_fast_hcstvg_reader_equals_the_precise_one(tmp_path: Path, v2: bool, integer: bool) -> None:
    raw = _raw(np.random.default_rng(int(v2) + 2 * int(integer)), 300, v2=v2, integer=integer)
    path = write_json(tmp_path / "test.json", raw)
    fast = hcstvg_raw.load_fast(path.read_bytes(), str(path))
    assert fast is not None
    precise = hcstvg_raw.load(json.loads(path.read_text()), str(path))
    _same_queries(fast.queries, precise)
    _same_queries(load_annotations(path), precise)


def _variants() -> list[tuple[str, str, str]]:
    """(name, text in the file, its replacement): files that are not the simple case."""
    return [
        ("repeated video", '"1_b.mp4": {', '"0_a.mp4": {"img_num": 9}, "1_b.mp4": {'),
        ("repeated field", '"st_frame": 3', '"st_frame": 3, "st_frame": 4'),
        ("float st_frame", '"st_frame": 3', '"st_frame": 3.0'),  # precise accepts it
        ("bool box", "[10, 20, 30, 40]", "[true, 20, 30, 40]"),
        ("short box", "[10, 20, 30, 40]", "[10, 20, 30]"),
        ("negative width", "[10, 20, 30, 40]", "[10, 20, -30, 40]"),
        ("huge integer", "[10, 20, 30, 40]", "[10, 20, 30, 400000000000000000000]"),
        ("no caption", '"caption": "a", ', ""),
        ("string frame count", '"img_num": 100', '"img_num": "100"'),
        ("past the video", '"img_num": 100', '"img_num": 2'),
        ("mixed v1/v2", '"width": 640, "height": 360, "st_frame": 3, "caption": "b"',
         '"img_size": [360, 640], "st_frame": 3, "English": "b"'),
        ("colon in a key", '"1_b.mp4"', '"1:b.mp4"'),  # precise accepts it
        ("repeated unread field", '"st_frame": 3', '"st_time": 1, "st_time": 2, "st_frame": 3'),
        ("escaped key", '"caption": "a"', '"capti\\u006fn": "a"'),
        ("empty bbox", '"bbox": [[10, 20, 30, 40]]', '"bbox": []'),
        ("spaced box", "[10, 20, 30, 40]", "[ 10 ,\n 20,30 , 40 ]"),
        ("fraction in a box", "[10, 20, 30, 40]", "[10.5, 20, 30, 40]"),
        ("exponent in a box", "[10, 20, 30, 40]", "[1e1, 20, 30, 40]"),
        ("negative zero", "[10, 20, 30, 40]", "[-0, 20, 30, 40]"),
        ("19-digit integer", "[10, 20, 30, 40]", "[10, 20, 30, 1000000000000000001]"),
        ("a caption spelling a key", '"caption": "a"', '"caption": "st_fr4ame"'),
        ("a box in a caption", '"caption": "a"', '"caption": "[[1, 2, 3, 4]]"'),
    ]


@pytest.mark.parametrize("name, old, new", _variants(), ids=[v[0] for v in _variants()])
def test_fast_hcstvg_reader_never_disagrees_with_the_precise_one(
    tmp_path: Path, name: str, old: str, new: str
) -> None:
    record = {"img_num": 100, "width": 640, "height": 360, "st_frame": 3}
    text = json.dumps(
        {"0_a.mp4": {**record, "caption": "a", "bbox": [[10, 20, 30, 40]]},
         "1_b.mp4": {**record, "caption": "b", "bbox": [[10, 20, 30, 40]]}}
    )  # fmt: skip
    assert old in text, name
    path = tmp_path / "test.json"
    path.write_text(text.replace(old, new, 1))
    fast = hcstvg_raw.load_fast(path.read_bytes(), str(path))
    data = json.loads(path.read_text(), object_pairs_hook=mark_repeated_keys)
    try:
        expected = hcstvg_raw.load(data, str(path))
    except AnnotationError as err:
        assert fast is None  # the fast reader declines every file the precise one refuses
        with pytest.raises(AnnotationError) as info:
            load_annotations(path)
        assert str(info.value) == str(err)
    else:
        if fast is not None:
            _same_queries(fast.queries, expected)
        _same_queries(load_annotations(path), expected)


def test_integer_columns_are_read_by_numpy_exactly_as_json_reads_them() -> None:
    rng = np.random.default_rng(5)
    values = []
    for _ in range(200):
        rows = rng.integers(-(10**17), 10**17, size=(int(rng.integers(0, 6)), 4)).tolist()
        values.append(json.dumps(rows, indent=int(rng.integers(0, 2)) or None).encode())
    array, counts = integer_column(values, 4)
    expected = [row for v in values for row in json.loads(v)]
    assert array.dtype == np.int64 and array.tolist() == expected
    assert counts.tolist() == [len(json.loads(v)) for v in values]
    flat, counts = integer_column([b"[3, -4]", b"[]", b"[7]"])
    assert flat.tolist() == [3, -4, 7] and counts.tolist() == [2, 0, 1]
    # anything else is left to msgspec (a fraction, a literal, a ragged row, 19 digits...)
    for text in (b"[1.5]", b"[1e3]", b'["1"]', b"[true]", b"[1000000000000000000]", b"[1-2]"):
        assert integer_column([text]) is None, text
    assert integer_column([b"[[1, 2], [3]]"], 2) is None
    assert integer_column([b"[[1, 2], 3, 4]"], 2) is None
    assert integer_column([b"[1, 2]"], 2) is None  # numbers where rows belong


def test_numeric_columns() -> None:
    values, counts = numeric_column([b"[[1, 2, 3, 4], [5, 6, 7, 8]]", b"[]"], float, width=4)
    assert values.dtype == np.float64 and values.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert counts.tolist() == [2, 0]
    assert numeric_column([b"[[1, 2, 3]]"], float, width=4) is None
    assert numeric_column([b"[1.5]"], int) is None
    assert numeric_column([b"[99999999999999999999]"], int) is None  # beyond int64
    frames, counts = numeric_column([b"[3, 4]", b"[7]"], int, chunk=1)
    assert frames.tolist() == [3, 4, 7] and counts.tolist() == [2, 1]
    assert decode_list_of_records(b'[{"a": 1, "a": 2}]') is None
    assert decode_list_of_records(b'[{"a": "x:y"}, {"b": [1]}]') is not None


# -------------------------------------------------------------------------------- JSONL
def _lines(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for i in range(n):
        start = int(rng.integers(0, 300))
        end = start + int(rng.integers(1, 60))
        count = int(rng.integers(0, end - start + 1))
        frames = np.sort(rng.choice(np.arange(start, end), size=count, replace=False))
        tube = Tube(start, end, frames=frames, boxes=random_walk_boxes(rng, count), fps=25.0)
        line = {"video_id": f"v{i}", "tube": None if i % 17 == 0 else tube.to_dict()}
        if i % 5 == 0:
            line["query_id"] = i
        out.append(json.dumps(line))
    return out


def _same_predictions(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.span, x.query_id, x.video_id, x.mode, x.path, x.line, x.field, x.origin) == (
            y.span, y.query_id, y.video_id, y.mode, y.path, y.line, y.field, y.origin
        )  # fmt: skip
        assert np.array_equal(x.frames, y.frames) and np.array_equal(x.boxes, y.boxes)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fast_jsonl_reader_equals_the_precise_one(tmp_path: Path, newline: str) -> None:
    lines = _lines(np.random.default_rng(0), 400)
    lines.insert(10, "")  # a blank line keeps the numbering
    text = newline.join(lines) + newline
    path = tmp_path / "p.jsonl"
    path.write_bytes(text.encode())
    fast = read_jsonl_fast(text.encode(), str(path), chunk_bytes=2000)  # many pieces
    assert fast is not None
    _same_predictions(fast, parse_jsonl(text, str(path)))
    _same_predictions(read_predictions(path), parse_jsonl(text, str(path)))


def _jsonl_variants() -> list[tuple[str, str]]:
    good = {"start_frame": 3, "end_frame": 7, "frames": [3, 5], "boxes": [[0, 0, 5, 5]] * 2}
    tube = json.dumps(good)
    line = '{"video_id": "v", "tube": %s}'
    return [
        ("unknown key", '{"video_id": "v", "tube": %s, "extra": 1}' % tube),
        ("float frame", '{"video_id": "v", "tube": %s}' % tube.replace("[3, 5]", "[3.5, 5]")),
        ("frame outside", '{"video_id": "v", "tube": %s}' % tube.replace("[3, 5]", "[3, 9]")),
        ("decreasing", '{"video_id": "v", "tube": %s}' % tube.replace("[3, 5]", "[5, 3]")),
        ("inverted box", line % tube.replace("[0, 0, 5, 5]]", "[6, 0, 5, 5]]")),
        ("empty span", line % tube.replace('"end_frame": 7', '"end_frame": 3')),
        ("no id", '{"tube": %s}' % tube),
        ("no tube", '{"video_id": "v"}'),
        ("count mismatch", '{"video_id": "v", "tube": %s}' % tube.replace("[3, 5]", "[3]")),
        ("bad fps", '{"video_id": "v", "tube": %s}' % tube.replace("}", ', "fps": -1}')),
        ("bool id", '{"video_id": true, "tube": %s}' % tube),
    ]  # fmt: skip


@pytest.mark.parametrize("name, bad", _jsonl_variants(), ids=[v[0] for v in _jsonl_variants()])
def test_fast_jsonl_reader_declines_and_the_precise_one_decides(
    tmp_path: Path, name: str, bad: str
) -> None:
    good = '{"video_id": "w", "tube": null}'
    text = f"{good}\n{bad}\n"
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    assert read_jsonl_fast(text.encode(), str(path)) is None
    with pytest.raises(PredictionError) as precise:
        parse_jsonl(text, str(path))
    with pytest.raises(PredictionError) as info:
        read_predictions(path)
    assert str(info.value) == str(precise.value) and ", line 2" in str(info.value)
