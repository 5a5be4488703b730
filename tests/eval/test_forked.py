"""The forked prediction reader: same report as reading in this process, precise errors, and
it steps aside whenever forking would not help or is not safe."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.eval.builders import hcstvg_raw_record, random_walk_boxes, write_json

from tubescope import Tube
from tubescope.errors import PredictionError
from tubescope.eval import api, evaluate, forked
from tubescope.eval.forked import ForkedCall

pytestmark = pytest.mark.skipif(
    not forked._fork_is_safe(), reason="forking is not used here (one core, or not Linux)"
)


@dataclasses.dataclass(frozen=True)
class _Pair:
    name: str
    values: np.ndarray
    more: np.ndarray


def _make_pair(n: int) -> _Pair:
    return _Pair("p", np.arange(n, dtype=np.int64), np.linspace(0, 1, 3 * n).reshape(n, 3))


def _fail() -> None:
    raise RuntimeError("boom")


def test_a_forked_call_returns_the_value_and_its_arrays_through_shared_memory() -> None:
    call = ForkedCall.start(_make_pair, 1000, shared_bytes=1 << 20)
    assert call is not None
    pair = call.result()
    assert pair.name == "p" and pair.values.tolist() == list(range(1000))
    assert np.array_equal(pair.more, np.linspace(0, 1, 3000).reshape(1000, 3))
    assert not pair.values.flags.writeable and not pair.more.flags.writeable
    plain = ForkedCall.start(_make_pair, 10)  # no shared memory: pickled back
    assert plain is not None and plain.result().values.tolist() == list(range(10))


def test_a_failing_or_overflowing_child_gives_none_so_the_caller_does_the_work() -> None:
    call = ForkedCall.start(_fail)
    assert call is not None and call.result() is None
    too_big = ForkedCall.start(_make_pair, 100_000, shared_bytes=4096)  # arena full
    assert too_big is not None and too_big.result() is None


def test_a_cancelled_call_leaves_no_child_behind() -> None:
    call = ForkedCall.start(time.sleep, 60)
    assert call is not None
    call.cancel()
    assert not call._process.is_alive()


def test_no_fork_with_one_core_or_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "usable_cores", lambda: 1)
    assert ForkedCall.start(sum, [1]) is None
    monkeypatch.undo()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert ForkedCall.start(sum, [1]) is None
    finally:
        stop.set()
        thread.join()


def _files(tmp_path: Path, n: int = 40) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    raw, lines = {}, []
    for i in range(n):
        frame_count = int(rng.integers(100, 400))
        length = int(rng.integers(10, 80))
        st = int(rng.integers(1, frame_count - length))
        raw[f"{i}_v.mp4"] = hcstvg_raw_record(frame_count, st, random_walk_boxes(rng, length))
        start = max(0, st - 1 + int(rng.integers(-20, 20)))
        end = min(frame_count, start + int(rng.integers(5, 90)))
        tube = Tube(start, end, frames=np.arange(start, end),
                    boxes=random_walk_boxes(rng, end - start), fps=frame_count / 20)  # fmt: skip
        lines.append(json.dumps({"video_id": f"{i}_v", "tube": tube.to_dict()}))
    annotations = write_json(tmp_path / "test.json", raw)
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text("\n".join(lines) + "\n")
    return annotations, predictions


@pytest.mark.parametrize("protocol", ["tubedetr", "stcat"])
def test_evaluate_reads_large_predictions_in_a_child_with_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    annotations, predictions = _files(tmp_path)
    monkeypatch.setattr(api, "BACKGROUND_BYTES", 1 << 40)
    here = evaluate(annotations, predictions, "hcstvg-v1", protocol)
    started: list[ForkedCall | None] = []
    real_start = ForkedCall.start

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003
        started.append(real_start(*args, **kwargs))
        return started[-1]

    built: list[int] = []
    real_build = api.predictions_from

    def build(columns, path):  # noqa: ANN001, ANN202
        built.append(len(columns.lines))
        return real_build(columns, path)

    monkeypatch.setattr(api, "BACKGROUND_BYTES", 0)
    monkeypatch.setattr(ForkedCall, "start", staticmethod(spy))
    monkeypatch.setattr(api, "predictions_from", build)
    there = evaluate(annotations, predictions, "hcstvg-v1", protocol)
    assert len(started) == 1 and started[0] is not None
    assert built == [40]  # the child's columns were used
    assert there.to_dict() == here.to_dict()  # exact, not approximately
    assert there.m_vIoU == here.m_vIoU and there.m_tIoU == here.m_tIoU


def test_a_bad_prediction_file_gets_the_precise_error_from_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    annotations, predictions = _files(tmp_path, 5)
    lines = predictions.read_text().splitlines()
    lines[3] = lines[3].replace('"start_frame": ', '"start_frame": -', 1)
    predictions.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(api, "BACKGROUND_BYTES", 1 << 40)
    with pytest.raises(PredictionError) as here:
        evaluate(annotations, predictions, "hcstvg-v1")
    monkeypatch.setattr(api, "BACKGROUND_BYTES", 0)
    with pytest.raises(PredictionError) as there:
        evaluate(annotations, predictions, "hcstvg-v1")
    assert str(there.value) == str(here.value) and "line 4" in str(there.value)


def test_a_bad_annotation_file_stops_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    annotations, predictions = _files(tmp_path, 5)
    annotations.write_text("{not json")
    monkeypatch.setattr(api, "BACKGROUND_BYTES", 0)
    before = {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(Exception, match="test.json"):
        evaluate(annotations, predictions, "hcstvg-v1")
    after = {p.pid for p in multiprocessing.active_children()}
    assert after <= before
    assert os.path.exists(predictions)
