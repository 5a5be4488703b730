"""GrounderConfig: option words are Literal types checked in one place; bad values raise a
one-line ConfigError naming the field (issue 19)."""

from __future__ import annotations

import typing

import pytest

from tubescope import GrounderConfig, preset
from tubescope.engine.config import ConfigError
from tubescope.errors import TubescopeError


def literal_fields() -> dict[str, tuple]:
    hints = typing.get_type_hints(GrounderConfig)
    out = {}
    for name, hint in hints.items():
        arms = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, type(int | str)) else (hint,)
        words = tuple(w for arm in arms if typing.get_origin(arm) is typing.Literal for w in typing.get_args(arm))
        if words:
            out[name] = words
    return out


def test_a_bad_word_is_a_one_line_config_error_naming_the_field():
    with pytest.raises(ConfigError) as info:
        GrounderConfig(token_rule="x")
    err = info.value
    assert isinstance(err, TubescopeError) and isinstance(err, ValueError)
    assert str(err) == "token_rule: must be one of 'adaptive', 'fixed', 'mean', got 'x'"
    assert err.field == "token_rule"


def test_every_literal_field_is_checked_from_its_annotation():
    fields = literal_fields()
    assert {"token_rule", "coverage", "frame_score", "sample_frames", "window_tie", "lra_ema", "span_mode"} <= set(fields)
    for name, words in fields.items():
        for word in words:
            GrounderConfig(**{name: word})  # every declared word is accepted
        with pytest.raises(ConfigError, match=f"^{name}: must be one of"):
            GrounderConfig(**{name: "no-such-choice"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_frames": 0}, "num_frames"),
        ({"lra_beta": 2.0}, "lra_beta"),
        ({"temporal_strategy": "magic"}, "temporal_strategy"),
        ({"layers": ()}, "layers"),
        ({"question_template": "no slot"}, "question_template"),
    ],
)
def test_range_errors_name_the_field(changes, field):
    with pytest.raises(ConfigError) as info:
        GrounderConfig(**changes)
    assert info.value.field == field and str(info.value).startswith(f"{field}: ")


def test_unknown_fields_and_presets():
    with pytest.raises(ConfigError, match="nmu_frames"):
        GrounderConfig().replace(nmu_frames=3)
    with pytest.raises(ConfigError, match="nmu_frames"):
        GrounderConfig.from_dict({"nmu_frames": 3})
    with pytest.raises(ConfigError, match="preset"):
        preset("best")
    with pytest.raises(ConfigError, match="dataset"):
        preset("paper", dataset="kinetics")


def test_paper_preset_holds_the_official_choices():
    cfg = preset("paper", "llava-next-video", dataset="hcstvg-v1")
    assert (cfg.coverage, cfg.frame_score, cfg.sample_frames, cfg.window_tie, cfg.span_inside_track) == (
        "centre", "mask_max", "proposals", "stop", False,
    )
    assert (cfg.lra_ema, cfg.layers, cfg.lra_steps, cfg.temporal_k, cfg.span_mode) == ("official", "all", 2, 8, "sampled")
    assert cfg.backend_options == {"spatial_pool_stride": 4, "pool_after_projector": True}
    assert preset("paper", "qwen2-vl").backend_options["positions"] == "1d"
    default = preset("default")
    assert (default.coverage, default.sample_frames, default.window_tie, default.span_inside_track) == (
        "area", "video", "earlier", True,
    )
