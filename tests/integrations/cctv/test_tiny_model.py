"""End to end with a real (tiny, random-weight) MLLM: the Grounder behind the watcher and the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tubescope.integrations.cctv import (
    ClipSink,
    FileSource,
    FixedWindows,
    JSONLSink,
    Watcher,
    fold_events,
    read_events,
)
from tubescope.synthetic import make_clip
from tubescope.video import Video

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tubescope.testing") is None,
    reason="tubescope.testing (tiny offline checkpoints) is not available in this checkout",
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tubescope.testing import save_tiny_model

    return Path(save_tiny_model("qwen2-vl", tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("rec") / "yard.mp4",
        width=160,
        height=112,
        num_frames=40,
        fps=10,
        num_shapes=2,
        seed=5,
    ).path  # type: ignore[return-value]


@pytest.mark.time_limit(90)
def test_watcher_with_the_tiny_model_writes_events_and_clips(
    tiny_model: Path, recording: Path, tmp_path: Path
) -> None:
    from tubescope import Grounder

    loaded = Grounder(str(tiny_model))
    grounder = Grounder(
        loaded.backend, config=loaded.config.replace(num_frames=4, resolution=56, tas=False)
    )
    queries = ["the red circle", "a blue square"]
    watcher = Watcher(
        FileSource(recording),
        queries,
        grounder,
        FixedWindows(2, 0.5),
        sinks=[JSONLSink(tmp_path / "events.jsonl"), ClipSink(tmp_path / "clips")],
        min_score=0.0,
    )
    status = watcher.run()
    assert status.state == "finished" and status.windows_grounded == status.windows_cut == 3
    assert (
        grounder.engine.stats["vision_encodes"] == 3
    )  # one encode per window, shared by both queries
    lines = read_events(tmp_path / "events.jsonl")
    assert lines[0].state == "open" and lines[0].windows == (0,)  # right after the first window
    assert (
        json.loads((tmp_path / "events.jsonl").read_text().splitlines()[0])["schema_version"] == 1
    )
    events = fold_events(lines)
    assert all(e.state == "close" for e in events)
    assert events and {e.query for e in events} <= set(queries)
    for event in events:
        assert 0.0 <= event.score <= 1.0 and event.start < event.end and event.clips
        assert all(0 <= b[0] < b[2] <= 160 and 0 <= b[1] < b[3] <= 112 for b in event.boxes)
        with Video(event.clip) as clip:  # type: ignore[arg-type]
            assert clip.fps == 10 and clip.frame_count == 20


@pytest.mark.time_limit(120)
def test_cli_watch_with_the_tiny_model(tiny_model: Path, recording: Path, tmp_path: Path) -> None:
    from tubescope.cli.main import cli

    events = tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "watch",
            str(recording),
            "-q",
            "the red circle",
            "--model",
            str(tiny_model),
            "--num-frames",
            "4",
            "--window",
            "2s",
            "--overlap",
            "0s",
            "--min-score",
            "0",
            "--events",
            str(events),
            "--clips",
            str(tmp_path / "clips"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "finished: 40 frames, 2 windows grounded" in result.output
    lines = read_events(events)
    assert lines and lines[0].state == "open" and fold_events(lines)[0].state == "close"
