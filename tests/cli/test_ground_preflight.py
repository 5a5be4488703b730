"""``tubescope ground`` checks everything that needs no model before loading one, writes its
result atomically, and treats ``--out`` and ``--render`` folders alike.

The loader is replaced by one that records its calls and hands out the planted stub backend,
so "the model was not loaded" is an assertion, not a hope.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tubescope import GroundingResult, Track, Video
from tubescope.cli.main import cli
from tubescope.errors import VideoError
from tubescope.proposals import write_tracks
from tubescope.synthetic import make_clip

from tests.stub_loader import plant_stub_loader


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("ground_preflight")
    clip = make_clip(root / "clip.mp4", width=128, height=96, num_frames=12, fps=6, seed=2)
    write_tracks(root / "tracks.json", [o.track for o in clip.objects])
    write_tracks(root / "other.json", [Track(0, frames=[0, 40], boxes=[[1, 1, 9, 9], [2, 2, 9, 9]])])
    (root / "bad.json").write_text("{not json")
    (root / "file").write_text("x")
    return root, clip


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The checkpoints the command loaded (each load hands out a stub backend)."""
    return plant_stub_loader(monkeypatch)


def ground(work, *extra: str):
    root, clip = work
    args = ["ground", str(clip.path), clip.objects[0].description, "--model", "some/model",
            "--proposals", f"precomputed:{root / 'tracks.json'}", "--decomposer", "rules", "--frames", "4", *extra]
    return CliRunner().invoke(cli, args)


def one_line(result, *needles: str) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_good_input_loads_the_model_once(work, loads, tmp_path):
    result = ground(work, "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert loads == ["some/model"]
    assert GroundingResult.from_json((tmp_path / "r.json").read_text()).proposal_source.startswith("precomputed")


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--frames", "50"], ("--frames 50", "has 12 frames", "--frames 12 or fewer")),
        (["--out", "{root}/file/r.json"], ("--out", "is a file")),
        (["--out", "{root}"], ("--out", "is a directory")),
        (["--render", "{root}/file/r.mp4"], ("--render", "is a file")),
        (["--render", "{root}/r.json"], ("--render", "'.json'", ".mp4")),
        (["--proposals", "precomputed:{root}/bad.json"], ("--proposals", "bad.json", "not valid JSON")),
        (["--proposals", "precomputed:{root}/other.json"], ("--proposals", "frame 40", "12 frames")),
        (["--decomposer", "{root}/bad.json"], ("--decomposer", "bad.json")),
        (["--device", "tpu"], ("--device tpu", "available here: auto, cpu")),
        (["--dataset", "vidstg"], ("--dataset vidstg", "--preset paper")),
    ],
)
def test_bad_input_is_one_line_before_the_model_loads(work, loads, extra, needles):
    root, _ = work
    one_line(ground(work, *[e.format(root=root) for e in extra]), *needles)
    assert loads == []


def test_decomposer_mllm_with_a_family_that_cannot_generate_is_refused_before_loading(
    work, loads, monkeypatch
):
    """Every shipped family generates text; a plug-in family without ``generate_text`` cannot."""

    class Silent:  # an adapter class with no text generation
        family = "silent"

    monkeypatch.setattr("tubescope.engine.backends.families.adapter_class", lambda family: Silent)
    one_line(ground(work, "--decomposer", "mllm"), "--decomposer mllm", "cannot generate text")
    assert loads == []


def test_a_video_too_short_for_the_preset_names_the_flag_and_its_default(work, loads, tmp_path):
    short = make_clip(tmp_path / "short.mp4", width=128, height=96, num_frames=6, seed=1)
    result = CliRunner().invoke(cli, ["ground", str(short.path), "x", "--model", "some/model"])
    one_line(result, "--frames (20 by default)", "has 6 frames", "--frames 6 or fewer")
    assert loads == []


def test_out_and_render_both_create_their_folders(work, loads, tmp_path):
    out, rendering = tmp_path / "a" / "b" / "r.json", tmp_path / "c" / "d" / "r.mp4"
    result = ground(work, "--out", str(out), "--render", str(rendering))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["query"] and Video(rendering).frame_count == 12


def test_a_failed_write_leaves_the_previous_result_whole(work, loads, tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    out.write_text('{"previous": true}')

    def crash(src, dst):  # the machine stops between writing the data and renaming it
        raise OSError(5, "Input/output error", str(dst))

    monkeypatch.setattr("tubescope.durable.os.replace", crash)
    result = ground(work, "--out", str(out))
    one_line(result, "Input/output error")
    assert json.loads(out.read_text()) == {"previous": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary file left


def test_ctrl_c_exits_130(work, loads, monkeypatch):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("tubescope.grounder.Grounder.ground_many", interrupted)
    result = ground(work)
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines()[-1] == "interrupted"


def test_python_names_in_library_messages_become_flags(work, loads, monkeypatch):
    def too_short(self, video, *args, **kwargs):
        raise VideoError(video.path, "has 3 frames, fewer than the 4 the grounder samples (lower GrounderConfig.num_frames)")

    monkeypatch.setattr("tubescope.grounder.Grounder.ground_many", too_short)
    line = one_line(ground(work), "(lower --frames)")
    assert "GrounderConfig" not in line


def test_the_summary_counts_one_frame_in_the_singular(loads, tmp_path):
    clip = make_clip(tmp_path / "one.mp4", width=128, height=96, num_frames=1, seed=3)
    write_tracks(tmp_path / "t.json", [o.track for o in clip.objects])
    result = CliRunner().invoke(cli, ["ground", str(clip.path), "x", "--model", "m/m", "--frames", "1",
                                      "--proposals", f"precomputed:{tmp_path / 't.json'}", "--decomposer", "rules"])
    assert result.exit_code == 0, result.output
    assert "(1 frame," in result.output and "1 frames" not in result.output


def test_debug_after_the_subcommand_shows_the_traceback(work, loads):
    result = CliRunner().invoke(cli, ["ground", str(work[0] / "missing.mp4"), "x", "--debug"])
    assert isinstance(result.exception, VideoError)  # raised through, not turned into one line
    assert "error:" not in result.output
