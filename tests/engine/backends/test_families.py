"""The model-family registry: a family is one adapter class; loading, detection, presets, tiny
checkpoints, the CLI and the backend test suite all read it."""

from __future__ import annotations

import importlib.util
import json
import re
import sys

import pytest
import torch
from click.testing import CliRunner
from tubescope import Grounder, GrounderConfig, preset
from tubescope.cli.main import cli
from tubescope.engine.backends import families
from tubescope.engine.backends.families import (
    FamilyError,
    PaperSettings,
    adapter_class,
    family_names,
    tiny_recipe,
)
from tubescope.engine.backends.loading import detect_family, load_backend
from tubescope.engine.backends.qwen2_vl import Qwen2VLBackend
from tubescope.errors import TubescopeError

from tests.engine.backends.helpers import QUESTION, random_frames
from tests.fresh_python import run_python

BUILT_IN = ("internvl", "llava-next-video", "llava-onevision", "qwen2-vl", "qwen2.5-vl")
DATASETS = (None, "hcstvg-v1", "hcstvg-v2", "vidstg")

# What engine/config.py held before the registry: its per-backbone table and the family
# special cases of preset(). The presets must not change, except for the official pooling
# order of LLaVA-NeXT-Video and the official 1-D positions of Qwen (docs/method.md).
_OLD_TABLE = {
    "llava-next-video": {"num_frames": 20, "resolution": 336, "token_offset": -5,
                         "backend_options": {"spatial_pool_stride": 4, "pool_after_projector": True}},
    "llava-onevision": {"num_frames": 20, "resolution": 336, "token_offset": -3,
                        "backend_options": {"pool_stride": 5}},
    "qwen2-vl": {"num_frames": 20, "resolution": 224, "token_offset": -3,
                 "backend_options": {"duplicate_frames": True, "size": (224, 224), "positions": "1d"}},
    "qwen2.5-vl": {"num_frames": 20, "resolution": 224, "token_offset": -3,
                   "backend_options": {"duplicate_frames": True, "size": (224, 224), "positions": "1d"}},
}  # fmt: skip


def _old_family_fields(family, dataset):
    values = dict(_OLD_TABLE.get(family or "", {}))
    if family == "llava-onevision" and dataset == "hcstvg-v1":
        values["lra_steps"] = 1
    if family in ("qwen2-vl", "qwen2.5-vl") and dataset in ("hcstvg-v1", "vidstg"):
        values["num_frames"] = 10
    return values


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("family", [*BUILT_IN, None, "stub"])
def test_presets_equal_the_table_they_replace(family, dataset):
    baseline = preset("paper", None, dataset=dataset)
    assert preset("paper", family, dataset=dataset) == baseline.replace(
        **_old_family_fields(family, dataset)
    )
    assert preset("default", family, dataset=dataset) == GrounderConfig()


def test_presets_do_not_share_backend_options():
    """Before, every paper preset of a family held the same dict: changing one changed all."""
    first = preset("paper", "qwen2-vl")
    first.backend_options["size"] = (112, 112)
    assert preset("paper", "qwen2-vl").backend_options["size"] == (224, 224)
    assert preset("paper", "qwen2.5-vl").backend_options["size"] == (224, 224)


def test_every_family_declares_valid_paper_settings_and_a_tiny_recipe():
    assert set(BUILT_IN) <= set(family_names())
    for family in family_names():
        cls = adapter_class(family)
        assert cls.family == family and cls.transformers_class().__name__ == cls.model_class_name
        settings = families.paper_settings(family)
        named = set(settings.datasets) if settings is not None else set()
        for dataset in {*DATASETS, *named}:
            preset("paper", family, dataset=dataset)  # a known dataset, valid GrounderConfig values
        assert tiny_recipe(family).files  # every family of tubescope has a tiny checkpoint


def test_paper_settings_check_their_fields():
    with pytest.raises(FamilyError, match=r"\['vidstg'\]: frames is not a GrounderConfig field"):
        PaperSettings(20, 336, -3, datasets={"vidstg": {"frames": 10}})


def test_family_classes_are_lazy_names_of_the_package():
    from tubescope.engine import backends
    from tubescope.engine.backends.internvl import InternVLBackend

    assert backends.Qwen2VLBackend is Qwen2VLBackend
    assert backends.InternVLBackend is InternVLBackend
    assert {cls.__name__ for cls in families.adapter_classes().values()} <= set(dir(backends))
    with pytest.raises(AttributeError, match="NoSuchBackend"):
        backends.NoSuchBackend  # noqa: B018


def test_the_registry_and_the_presets_import_without_torch():
    code = (
        "import tubescope.engine.backends, tubescope.engine.backends.families, tubescope.testing\n"
        "from tubescope import preset\n"
        "print(preset('default', 'qwen2-vl').num_frames, preset('paper').num_frames)\n"
    )
    proc = run_python(code, blocked=("torch", "transformers"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["20", "20"]


# ---------------------------------------------------------------------------- a new family


def define_dummy_family() -> type:
    """Add the family "dummy-vl" through the registry alone: Qwen2-VL's adapter under a new
    family name and config model_type, with its own paper settings and tiny recipe."""
    import transformers

    class DummyVLConfig(transformers.Qwen2VLConfig):
        model_type = "tubescope_dummy_vl"

    class DummyVLModel(transformers.Qwen2VLForConditionalGeneration):
        config_class = DummyVLConfig

    class DummyVLBackend(Qwen2VLBackend):
        family = "dummy-vl"
        model_types = ("tubescope_dummy_vl",)
        model_class_name = "DummyVLModel"
        paper = PaperSettings(
            num_frames=6,
            resolution=112,
            token_offset=-2,
            backend_options={"duplicate_frames": True},
            datasets={"vidstg": {"num_frames": 4, "lra_steps": 1}},
        )
        tiny = Qwen2VLBackend.tiny  # the config class makes its config.json a dummy-vl one

        @classmethod
        def transformers_class(cls) -> type:
            return DummyVLModel

    return DummyVLBackend


@pytest.fixture
def scratch_registry(monkeypatch):
    """Families registered by a test are gone after it."""
    families.adapter_classes()  # discover the built-in families first
    monkeypatch.setattr(families, "_REGISTRY", families._REGISTRY.copy())


def test_a_family_added_through_the_registry_alone(scratch_registry, tmp_path):
    import tubescope.testing

    assert "dummy-vl" not in family_names()
    dummy = define_dummy_family()
    assert "dummy-vl" in family_names() and "dummy-vl" in tubescope.testing.TINY_FAMILIES

    path = tubescope.testing.save_tiny_model("dummy-vl", tmp_path / "dummy")
    assert json.loads((path / "config.json").read_text())["model_type"] == "tubescope_dummy_vl"
    assert detect_family(path) == "dummy-vl"
    backend = load_backend(path, device="cpu", dtype="float32")
    assert type(backend) is dummy and backend.family == "dummy-vl"
    out = backend.prefill(backend.encode(random_frames(2)), [QUESTION])[0]
    assert torch.isfinite(out.logits).all()

    assert preset("default", "dummy-vl") == GrounderConfig()
    paper = preset("paper", "dummy-vl")
    assert (paper.num_frames, paper.resolution, paper.token_offset) == (6, 112, -2)
    assert paper.backend_options == {"duplicate_frames": True} and paper.lra_steps == 2
    on_vidstg = preset("paper", "dummy-vl", dataset="vidstg")
    assert (on_vidstg.num_frames, on_vidstg.lra_steps, on_vidstg.temporal_k) == (4, 1, 6)
    grounder = Grounder(path, preset="paper", device="cpu")
    assert grounder.config == paper and grounder.backend.options["duplicate_frames"] is True

    runner = CliRunner()
    assert "dummy-vl" in runner.invoke(cli, ["demo", "--help"]).output
    bad = runner.invoke(cli, ["demo", "--family", "nope"])
    assert bad.exit_code == 2 and "dummy-vl" in bad.output
    demo = runner.invoke(cli, ["demo", "--family", "dummy-vl", "--out", str(tmp_path / "demo")])
    assert demo.exit_code == 0, demo.output
    assert detect_family(tmp_path / "demo" / "tiny-model") == "dummy-vl"


def test_redefining_a_family_class_replaces_it(scratch_registry):
    first = define_dummy_family()
    second = define_dummy_family()  # same file and qualified name: a reload, not a clash
    assert first is not second and adapter_class("dummy-vl") is second


def test_a_second_import_of_a_family_module_keeps_the_package_class(scratch_registry):
    """pytest imports sdk/engine/backends/qwen2_vl.py a second time, as "sdk....", for its
    doctests; that copy must not replace (or clash with) the registered class."""
    source = sys.modules[Qwen2VLBackend.__module__].__file__
    spec = importlib.util.spec_from_file_location("copy_of_qwen2_vl", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert module.Qwen2VLBackend is not Qwen2VLBackend
    assert adapter_class("qwen2-vl") is Qwen2VLBackend


def test_duplicate_family_or_model_type_is_a_clear_error(scratch_registry):
    before = (family_names(), dict(families._REGISTRY.by_model_type))
    with pytest.raises(FamilyError) as info:

        class Again(Qwen2VLBackend):
            family = "qwen2-vl"
            model_types = ("qwen2_vl_again",)
            paper = None
            tiny = None

    assert isinstance(info.value, TubescopeError) and isinstance(info.value, ValueError)
    assert re.search(
        r"Again: family 'qwen2-vl' is already registered by "
        r"tubescope\.engine\.backends\.qwen2_vl\.Qwen2VLBackend$",
        str(info.value),
    )
    with pytest.raises(
        FamilyError,
        match=r"\(family 'clash'\): model_type 'qwen2_5_vl' by "
        r"tubescope\.engine\.backends\.qwen2_vl\.Qwen25VLBackend \(qwen2\.5-vl\) "
        r"is already registered",
    ):

        class Clash(Qwen2VLBackend):
            family = "clash"
            model_types = ("clash_vl", "qwen2_5_vl")
            paper = None
            tiny = None

    assert (family_names(), dict(families._REGISTRY.by_model_type)) == before


def test_a_family_class_declares_everything_itself(scratch_registry):
    with pytest.raises(FamilyError, match=r"declares family 'half' but not its own 'paper'"):

        class Half(Qwen2VLBackend):
            family = "half"
            model_types = ("half_vl",)

    with pytest.raises(FamilyError, match=r"model_types must be a non-empty tuple"):

        class NoTypes(Qwen2VLBackend):
            family = "no-types"
            model_types = "no_types"
            paper = None
            tiny = None

    class Variant(Qwen2VLBackend):  # no family of its own: a variant, not registered
        pass

    assert "half" not in family_names() and Variant not in families.adapter_classes().values()


def test_unknown_families_are_named_with_the_known_ones(scratch_registry, tmp_path):
    from tubescope.testing import save_tiny_model

    with pytest.raises(FamilyError, match=r"family 'gpt-2' is not one of \['internvl', "):
        save_tiny_model("gpt-2", tmp_path)
    with pytest.raises(FamilyError, match="is not one of"):
        adapter_class("gpt-2")
    assert families.paper_settings("gpt-2") is None  # a custom backend's name: no paper values


def test_the_backend_suite_runs_a_new_family_without_edits():
    """The parametrised backend tests and the end-to-end family tests take every registered
    family: with only the dummy family's class defined, they run (and pass) for it."""
    code = (
        "import sys, pytest\n"
        "from tests.engine.backends.test_families import define_dummy_family\n"
        "define_dummy_family()\n"
        "sys.exit(pytest.main(['-v', '-p', 'no:cacheprovider', '-k', 'dummy-vl',\n"
        "                      'tests/engine/backends', 'tests/engine/test_real_families.py']))\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 15, proc.stdout[-2000:]
    for test in (
        "backends/test_loading.py::test_round_trip_through_load_backend[dummy-vl]",
        "backends/test_prefill.py::test_logits_equal_transformers_forward[dummy-vl]",
        "test_real_families.py::test_grounds_a_synthetic_clip_deterministically_with_one_encode[dummy-vl]",
    ):
        assert f"{test} PASSED" in proc.stdout, test
