"""Restarts: a folder watch stopped (Ctrl-C) or killed mid-file never writes an event twice.

Before, Ctrl-C in the middle of a file wrote the event held so far, the file was processed
again at the restart, and the same ``event_id`` was written a second time as a new event.
Now the folder's state file keeps, per file being processed, the windows grounded, the events
written and where the events file stood; a re-processed file writes an event it already holds
only as higher revisions (or not at all once it was closed for good).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from tubescope.integrations.cctv import (
    Event,
    FixedWindows,
    FolderSource,
    JSONLSink,
    Watcher,
    fold_events,
    read_events,
)
from tubescope.integrations.cctv.sources.folder import STATE_FILE_NAME

from .stubs import RedGrounder
from .watchproc import logged_windows, red_clip, start_watch, wait_for_windows

FPS = 10


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two NVR exports: a short appearance, then one that lasts to the end of the file."""
    base = tmp_path_factory.mktemp("exports")
    for name, spans in [
        ("cam1_20260301_100000.mp4", [(5, 25), (40, 120)]),
        ("cam1_20260301_100200.mp4", [(10, 30), (50, 95)]),
    ]:
        red_clip(base / name, spans, num_frames=120, fps=FPS)
    return base


def fresh_folder(exports: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for clip in sorted(exports.iterdir()):
        shutil.copy2(clip, target / clip.name)  # same mtimes: same wall clocks, same ids
    return target


def watcher(folder: Path, events: Path, grounder: Any, **options: Any) -> Watcher:
    source = FolderSource(
        folder, settle=0, poll=0.05, time_pattern="%Y%m%d_%H%M%S", tz="UTC", once=True
    )
    return Watcher(
        source,
        ["the red square"],
        grounder,
        FixedWindows(2, 0.5),
        sinks=[JSONLSink(events), *options.pop("sinks", [])],
        **options,
    )


def check_no_duplicates(lines: list[Event]) -> None:
    """Per id: revisions only go up, one open line, nothing after a close for good."""
    by_id: dict[str, list[Event]] = defaultdict(list)
    for line in lines:
        by_id[line.event_id].append(line)
    for event_id, own in by_id.items():
        revisions = [line.revision for line in own]
        assert revisions == sorted(set(revisions)), (event_id, revisions)
        assert [line.state for line in own].count("open") <= 1, event_id
        for before, after in zip(own, own[1:]):
            assert before.state != "close" or before.reason == "stopped", (event_id, before)
            assert after.revision > before.revision


def summary(events: list[Event]) -> list[tuple[Any, ...]]:
    """What must not depend on restarts (running frame indices and segments do)."""
    return sorted(
        (e.event_id, e.state, e.start, e.end, e.file and Path(e.file).name, e.positions, e.boxes)
        for e in events
    )


def reference(exports: Path, tmp_path: Path) -> list[Event]:
    folder = fresh_folder(exports, tmp_path / "reference" / "nvr")  # same name: same source
    events = tmp_path / "reference.jsonl"
    assert watcher(folder, events, RedGrounder()).run().state == "finished"
    return fold_events(events)


def test_ctrl_c_mid_file_then_restart_writes_no_event_twice(exports: Path, tmp_path: Path) -> None:
    folder = fresh_folder(exports, tmp_path / "nvr")
    events = tmp_path / "events.jsonl"

    class StopAfter(RedGrounder):
        def ground_many(self, video: Any, queries: Any) -> Any:
            if len(self.calls) == 4:  # in the long appearance of the first file
                first.stop(timeout=0)  # Ctrl-C: this window finishes, open events close
            return super().ground_many(video, queries)

    first = watcher(folder, events, StopAfter())
    assert first.run().state == "stopped"
    before = read_events(events)
    assert [(e.state, e.reason) for e in before][-1] == ("close", "stopped")
    state = json.loads((folder / STATE_FILE_NAME).read_text())
    (entry,) = state["files"].values()
    assert entry["status"] == "processing" and len(entry["progress"]["windows"]) == 5
    assert set(entry["progress"]["events"]) == {e.event_id for e in before}

    second = watcher(folder, events, RedGrounder())
    assert second.run().state == "finished"
    lines = read_events(events)
    check_no_duplicates(lines)
    after = lines[len(before) :]
    ended_early = before[1]  # the short appearance was closed for good before the stop
    assert ended_early.reason == "ended" and ended_early.event_id not in {e.event_id for e in after}
    resumed = [e for e in after if e.event_id == before[-1].event_id]
    assert resumed and resumed[0].revision == before[-1].revision + 1  # not opened again
    assert resumed[-1].state == "close" and resumed[-1].reason != "stopped"
    assert summary(fold_events(lines)) == summary(reference(exports, tmp_path))
    done = json.loads((folder / STATE_FILE_NAME).read_text())["files"]
    assert {entry["status"] for entry in done.values()} == {"done"}
    assert readme_fold(events) == {
        e.event_id: (e.state, e.revision, list(e.positions)) for e in fold_events(lines)
    }


def readme_fold(events: Path) -> dict[str, tuple[str, int, list[int]]]:
    """Run the README's folding example on ``events`` (the documentation must stay true)."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme[readme.index("**Folding the file**") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n", 20)]
    scope: dict[str, Any] = {}
    exec(code.replace('"gate.jsonl"', repr(str(events))), scope)  # noqa: S102 - our own README
    return {k: (e["state"], e["revision"], e["positions"]) for k, e in scope["events"].items()}


def start_cli(folder: Path, events: Path, log: Path) -> subprocess.Popen[str]:
    args = [str(folder), "-q", "the red square", "--once", "--settle", "0s", "--window", "2s"]
    args += ["--overlap", "0.5s", "--update-every", "2s", "--time-pattern", "%Y%m%d_%H%M%S"]
    args += ["--tz", "UTC", "--events", str(events)]
    return start_watch(args, log, delay=0.03)


@pytest.mark.time_limit(60)
def test_sigkill_at_random_points_and_restarts_write_no_event_twice(
    exports: Path, tmp_path: Path
) -> None:
    folder = fresh_folder(exports, tmp_path / "nvr")
    events, log = tmp_path / "events.jsonl", tmp_path / "ground.log"
    rng = random.Random(19)
    kills = 0
    for _ in range(3):
        already = len(logged_windows(log))
        wanted = already + rng.randint(1, 4)
        proc = start_cli(folder, events, log)
        try:
            finished = not wait_for_windows(proc, log, wanted)
            time.sleep(rng.uniform(0, 0.04))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        assert not finished
    final = start_cli(folder, events, log)
    _, err = final.communicate(timeout=30)
    assert final.returncode == 0, err
    assert kills >= 2
    lines = read_events(events)  # a line torn by a kill is skipped
    check_no_duplicates(lines)
    assert summary(fold_events(lines)) == summary(reference(exports, tmp_path))
