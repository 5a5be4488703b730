"""Every command, every option, one bad value each: one ``error:`` line, exit 2, no traceback.

The cases are generated from the click definitions (``cli.commands`` and each command's
``params``), so an option added later is covered without touching this file: its bad values
come from its type (a non-number for numbers, the value just outside a range, an unknown
choice, an empty string, a path below a regular file) plus :data:`SPECIFIC`, a small table
of values that are bad only in context (an unreadable video, ``--device tpu``, a clip too
short for ``--frames``).

Nothing here loads a model: ``load_backend`` is replaced by one that fails the test, and the
``--model`` given is a folder holding only a ``config.json`` (enough to detect the family).
So every bad value must be caught *before* the model would load, and every case takes
milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tubescope import GroundingResult
from tubescope.cli.main import cli
from tubescope.synthetic import make_clip

from tests.integrations.runs.helpers import write_hcstvg

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class ModelLoaded(Exception):
    """Raised by the replaced loader: the command got as far as loading a model."""


@dataclass
class Inputs:
    root: Path
    clip: Path
    result: Path
    model: Path
    blocker: Path  # a regular file: nothing can be created below it
    text: Path  # a text file named like nothing in particular
    bad_json: Path
    annotations: Path
    videos: Path
    proposals: Path
    predictions: Path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    root = tmp_path_factory.mktemp("bad_values")
    clip = make_clip(root / "clip.mp4", width=128, height=96, num_frames=24, fps=8, seed=1)
    result = GroundingResult(clip.objects[0].description, clip.objects[0].tube, video=str(clip.path))
    (root / "result.json").write_text(result.to_json())
    model = root / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    (root / "notes.txt").write_text("not a video\n" * 20)
    (root / "blocker").write_text("a file\n")
    ds = write_hcstvg(root / "hcstvg", count=2, corrupt=False)
    predictions = root / "predictions.jsonl"
    predictions.write_text(
        "".join(json.dumps({"video_id": v, "tube": clip.objects[0].tube.to_dict()}) + "\n" for v in ds.video_ids)
    )
    (root / "bad.json").write_text("{not json")
    return Inputs(root, clip.path, root / "result.json", model, root / "blocker", root / "notes.txt",
                  root / "bad.json", ds.annotations, ds.videos, ds.proposals, predictions)


def good_values(i: Inputs) -> dict[str, dict[str, str | list[str]]]:
    """A valid value of every argument and required option (and a few more), per command."""
    return {
        "ground": {"video": str(i.clip), "queries": ["the red circle"], "model": str(i.model),
                   "num_frames": "4"},
        "demo": {"out_dir": str(i.root / "demo")},
        "info": {"video": str(i.clip)},
        "render": {"video": str(i.clip), "result": str(i.result), "out": str(i.root / "r.mp4")},
        "synth": {"out": str(i.root / "s.mp4"), "num_frames": "8", "size": "96x64"},
        "watch": {"source": str(i.clip), "queries": ["the red circle"], "model": str(i.model),
                  "events_path": str(i.root / "events.jsonl"), "num_frames": "4"},
        "eval": {"dataset": "hcstvg-v1", "annotations": str(i.annotations), "predictions": str(i.predictions)},
        "run": {"dataset": "hcstvg-v1", "annotations": str(i.annotations), "videos": str(i.videos),
                "proposals": str(i.proposals), "decompositions": "rules", "model": str(i.model),
                "sets": "num_frames=4", "out": str(i.root / "run")},
    }


#: Values that are bad only in context: (command, parameter) -> bad values. ``{name}`` is an
#: :class:`Inputs` field (``{root}``: a folder, ``{text}``: a text file, ``{bad_json}``, ...).
SPECIFIC: dict[tuple[str, str], list[str]] = {
    ("ground", "video"): ["{text}"],
    ("ground", "num_frames"): ["1000"],  # the clip has 24 frames
    ("ground", "proposals"): ["foo", "detector:yolo", "precomputed:{root}/missing.json"],
    ("ground", "decomposer"): ["{root}/missing.json", "{bad_json}"],
    ("ground", "device"): ["tpu", "cuda:7"],
    ("ground", "out"): ["{root}"],
    ("ground", "render_to"): ["{root}"],
    ("info", "video"): ["{text}"],
    ("render", "video"): ["{text}"],
    ("render", "result"): ["{bad_json}", "{clip}"],
    ("render", "out"): ["{root}"],
    ("synth", "num_frames"): ["0"],
    ("synth", "fps"): ["0"],
    ("synth", "size"): ["big", "97x64"],
    ("synth", "num_shapes"): ["0", "99"],
    ("synth", "truth"): ["{root}"],
    ("demo", "out_dir"): ["{blocker}"],
    ("watch", "source"): ["{text}", "{root}/gone.mp4"],
    ("watch", "window"): ["abc", "0s"],
    ("watch", "overlap"): ["abc", "1h"],
    ("watch", "tz"): ["Mars/Olympus"],
    ("watch", "device"): ["tpu"],
    ("watch", "events_path"): ["{root}"],
    ("eval", "annotations"): ["{bad_json}"],
    ("eval", "predictions"): ["{bad_json}"],
    ("eval", "json_out"): ["{root}"],
    ("eval", "per_query"): ["{root}"],
    ("eval", "index_base"): ["2"],
    ("run", "device"): ["tpu"],
    ("run", "dtype"): ["int8"],
    ("run", "shard"): ["abc", "3/2"],
    ("run", "sets"): ["num_frames=abc", "nmu_frames=4"],
    ("run", "proposals"): ["detector:yolo"],
    ("run", "decompositions"): ["{bad_json}"],
    ("run", "out"): ["{blocker}"],
}


def _range_values(kind: click.ParamType) -> list[str]:
    values = []
    low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    if low is not None:
        values.append(str(low if getattr(kind, "min_open", False) else low - 1))
    if high is not None:
        values.append(str(high if getattr(kind, "max_open", False) else high + 1))
    return values


def type_values(param: click.Parameter) -> list[str]:
    """Bad values derived from the parameter's click type."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return ["no-such-choice"]
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return ["abc", *_range_values(kind)]
    if isinstance(kind, click.types.BoolParamType):
        return ["maybe"]
    if isinstance(kind, click.Path):
        return ["", "{blocker}/below/x.json"]
    return [""]


def has_value(param: click.Parameter) -> bool:
    """False for plain flags (``--maps``, ``--probe/--no-probe``): no value that could be bad.
    ``--ray [ADDRESS]`` is a flag that also takes a value."""
    if not isinstance(param, click.Option):
        return True
    return not param.count and not (param.is_flag and param.is_bool_flag)


def cases() -> list[tuple[str, str, str]]:
    out = []
    for name, command in sorted(cli.commands.items()):
        for param in command.params:
            if has_value(param):
                values = type_values(param) + SPECIFIC.get((name, param.name), [])
                out += [(name, param.name, value) for value in dict.fromkeys(values)]
    return out


def argv(command: str, name: str, value: str, i: Inputs) -> list[str]:
    """The command line of ``command`` with good values and ``value`` for parameter ``name``."""
    values: dict[str, str | list[str]] = dict(good_values(i)[command])
    if name:
        values[name] = value
    words = [command]
    for param in cli.commands[command].params:
        if param.name not in values:
            continue
        given = values[param.name]
        items = given if isinstance(given, list) else [given]
        if isinstance(param, click.Argument):
            words += items
        else:
            flag = max(param.opts, key=len)
            for item in items:
                words += [flag, item]
    return words


def naming(param: click.Parameter, value: str) -> tuple[str, ...]:
    """What the error line must mention: a flag of the option (or the file it names), or the
    argument's value or name."""
    if isinstance(param, click.Option):
        return (*param.opts, value) if value and isinstance(param.type, click.Path) else tuple(param.opts)
    if not value:  # "Invalid value for 'VIDEO': must not be empty", "the query is empty"
        return (f"'{param.human_readable_name}'", "query is empty")
    return (value, param.human_readable_name)


def test_the_tables_name_real_commands_and_parameters(inputs):
    """A renamed option or a new command cannot silently drop out of the walk."""
    assert set(good_values(inputs)) == set(cli.commands)
    names = {command: {p.name for p in cli.commands[command].params} for command in cli.commands}
    for command, values in good_values(inputs).items():
        assert set(values) <= names[command], command
    for command, name in SPECIFIC:
        assert name in names.get(command, ()), (command, name)


@pytest.fixture
def no_model(monkeypatch, tmp_path):
    """Loading a model fails the test (every bad value must be caught before it loads); the
    working folder is a fresh one (a value mistaken for "here" writes nothing into the checkout)."""
    monkeypatch.chdir(tmp_path)

    def load_backend(*args, **kwargs):
        raise ModelLoaded("a model was loaded although the input is bad")

    monkeypatch.setattr("tubescope.engine.backends.load_backend", load_backend, raising=False)
    monkeypatch.setattr("tubescope.engine.backends.loading.load_backend", load_backend)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize(("command", "name", "template"), cases())
def test_a_bad_value_is_one_line_and_exit_2(inputs, no_model, command, name, template):
    fields = {k: str(v) for k, v in vars(inputs).items()}
    value = template.format(**fields)
    words = argv(command, name, value, inputs)
    result = CliRunner().invoke(cli, words)
    shown = "tubescope " + " ".join(repr(w) if not w or " " in w else w for w in words)
    assert not isinstance(result.exception, ModelLoaded), f"{shown}: the model loaded before the check"
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, f"{shown} -> exit {result.exit_code}:\n{result.output}"
    assert lines[0].startswith("error: ") and "Traceback" not in result.output, lines[0]
    param = next(p for p in cli.commands[command].params if p.name == name)
    assert any(needle in lines[0] for needle in naming(param, value)), f"{shown}: {lines[0]}"


@pytest.mark.parametrize("command", sorted(set(cli.commands) - {"demo"}))  # demo's good run takes 10 s
def test_the_good_values_are_good(inputs, no_model, command):
    """The base command lines are valid: they run (or get as far as loading the model)."""
    result = CliRunner().invoke(cli, argv(command, "", "", inputs))
    if command in ("ground", "run", "watch"):
        assert isinstance(result.exception, ModelLoaded) or "a model was loaded" in result.output, result.output
    else:
        assert result.exit_code == 0, result.output
