"""An NVR export folder: files arrive while the watcher runs, one is truncated, a restart resumes."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from tubescope.integrations.cctv import (
    FixedWindows,
    FolderSource,
    JSONLSink,
    StateFileError,
    Watcher,
    fold_events,
    read_events,
)
from tubescope.integrations.cctv.sources.folder import STATE_FILE_NAME
from tubescope.synthetic import ShapeSpec, make_clip

from .conftest import wait_until
from .stubs import RedGrounder

FRAMES = 30


def red_clip(path: Path, seed: int) -> Path:
    square = ShapeSpec(
        color="red",
        kind="square",
        size=24,
        start=(40.0, 60.0),
        end=(120.0, 60.0),
        appear=5,
        disappear=25,
    )
    make_clip(path, width=160, height=120, num_frames=FRAMES, fps=10, shapes=[square], seed=seed)
    return path


def write_slowly(source: Path, target: Path, chunks: int = 5, pause: float = 0.12) -> None:
    """Copy like an NVR export in progress: the file grows in pieces, never still for long."""
    data = source.read_bytes()
    step = len(data) // chunks + 1
    with open(target, "wb") as handle:
        for k in range(0, len(data), step):
            handle.write(data[k : k + step])
            handle.flush()
            time.sleep(pause)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("library")
    clips = {
        name: red_clip(base / name, seed)
        for seed, name in enumerate(
            [
                "cam1_20260301_100000.mp4",
                "cam1_20260301_100100.mp4",
                "cam1_20260301_100200.mp4",
                "cam1_20260301_100300.mp4",
            ]
        )
    }
    good = clips["cam1_20260301_100300.mp4"].read_bytes()
    truncated = base / "cam1_20260301_100400.mp4"
    truncated.write_bytes(
        good[: len(good) * 2 // 3]
    )  # cut mid-export: the MP4 index never got written
    clips[truncated.name] = truncated
    return clips


def watch(folder: Path, events: Path, grounder: RedGrounder, **options: object) -> Watcher:
    source = FolderSource(
        folder, settle=1.0, poll=0.1, time_pattern="%Y%m%d_%H%M%S", tz="UTC", **options
    )
    return Watcher(
        source,
        ["the red square", "a person"],
        grounder,
        FixedWindows(1.5, 0),
        sinks=[JSONLSink(events)],
    )


def test_folder_files_processed_once_bad_one_reported_and_restart_resumes(
    tmp_path: Path, library: dict[str, Path]
) -> None:
    folder = tmp_path / "nvr"
    folder.mkdir()
    events_path = tmp_path / "events.jsonl"
    names = sorted(library)
    shutil.copy(library[names[0]], folder / names[0])  # already there at start
    grounder = RedGrounder()
    watcher = watch(folder, events_path, grounder).start()
    writers = [
        threading.Thread(target=write_slowly, args=(library[names[1]], folder / names[1])),
        threading.Thread(
            target=write_slowly, args=(library[names[4]], folder / names[4])
        ),  # the truncated one
    ]
    for writer in writers:
        writer.start()
    time.sleep(0.3)
    write_slowly(
        library[names[2]], folder / names[2]
    )  # arrives while the others are being processed
    shutil.copy(library[names[3]], folder / names[3])
    for writer in writers:
        writer.join(10)
    source = watcher.source
    assert wait_until(
        lambda: source.stats.files_done == 4 and source.stats.files_skipped == 1, 30
    ), watcher.status
    time.sleep(0.5)  # a few more scans: nothing may be picked up again
    watcher.stop()

    assert source.stats.bad_files == [
        names[4]
    ]  # reported: the growing files were never read half-written
    assert "cam1_20260301_100400.mp4: skipped" in (source.stats.last_error or "") or any(
        names[4] in (e or "") for e in [watcher.status.last_error]
    )
    assert source.stats.frames == 4 * FRAMES  # every good frame read exactly once
    assert (
        len(grounder.calls) == 4 * 2
    )  # two 1.5 s windows per 3 s file, all queries in one call each
    assert all(call["queries"] == ["the red square", "a person"] for call in grounder.calls)

    events = fold_events(events_path)
    assert all(e.state == "close" and e.reason == "ended" for e in events)
    lines = read_events(events_path)
    assert (
        sorted(Path(e.file).name for e in events) == names[:4]
    )  # one event per good clip, no duplicates
    by_file = {Path(e.file).name: e for e in events}
    event = by_file[names[1]]
    assert (
        event.query == "the red square" and event.positions[0] == 5
    )  # frame numbers inside that file
    assert event.start.isoformat() == "2026-03-01T10:01:00.500000+00:00"  # from the file name, UTC
    assert len({e.event_id for e in events}) == 4

    state = json.loads((folder / STATE_FILE_NAME).read_text())
    assert {n: s["status"] for n, s in state["files"].items()} == {
        **{n: "done" for n in names[:4]},
        names[4]: "failed",
    }
    assert state["files"][names[0]]["frames"] == FRAMES
    assert (
        "truncated" in state["files"][names[4]]["reason"]
        or "not a readable" in state["files"][names[4]]["reason"]
    )

    # restart: nothing is processed again, nothing reported again
    again = RedGrounder()
    restarted = watch(folder, events_path, again, once=True)
    status = restarted.run()
    assert status.state == "finished" and status.frames_in == 0 and again.calls == []
    assert read_events(events_path) == lines
    assert restarted.source.stats.files_skipped == 0


def test_changed_file_is_processed_again(tmp_path: Path, library: dict[str, Path]) -> None:
    folder = tmp_path / "nvr"
    folder.mkdir()
    name = sorted(library)[0]
    shutil.copy(library[name], folder / name)
    grounder = RedGrounder()
    assert watch(folder, tmp_path / "e.jsonl", grounder, once=True).run().frames_in == FRAMES
    shutil.copy(library[sorted(library)[1]], folder / name)  # re-exported under the same name
    assert watch(folder, tmp_path / "e.jsonl", RedGrounder(), once=True).run().frames_in == FRAMES


def test_corrupt_state_file_names_the_field(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE_NAME).write_text(
        json.dumps({"version": 1, "files": {"a.mp4": {"status": "maybe"}}})
    )
    with pytest.raises(StateFileError, match=r"files\.a\.mp4\.status"):
        FolderSource(tmp_path)
    (tmp_path / STATE_FILE_NAME).write_text("{not json")
    with pytest.raises(StateFileError, match="unreadable state file"):
        FolderSource(tmp_path)


def test_state_file_can_live_outside_a_read_only_export_share(
    tmp_path: Path, library: dict[str, Path]
) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    name = sorted(library)[0]
    shutil.copy(library[name], folder / name)
    folder.chmod(0o555)
    try:
        state = tmp_path / "state" / "cam1.json"
        source = FolderSource(folder, settle=0, once=True, state_file=state)
        assert len(list(source)) == FRAMES
        assert json.loads(state.read_text())["files"][name]["status"] == "done"
        assert not (folder / STATE_FILE_NAME).exists()
    finally:
        folder.chmod(0o755)
