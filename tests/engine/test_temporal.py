"""Span strategies: the registry, the official window and its tie rule, runs of the track."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.stub_backend import StubBackend
from tubescope import GrounderConfig
from tubescope.engine.config import ConfigError
from tubescope.engine.engine import Engine
from tubescope.engine.temporal import register_strategy, select_span, strategy_names, track_run, unregister_strategy
from tubescope.types import SubQueries, Track

PARTS = SubQueries("the man", "The man walks.", False, "test")


@pytest.fixture
def last_frame_strategy():
    """A dummy strategy added through the registry alone: the last sampled frame."""

    @register_strategy("last_frame")
    def last_frame(scores, params):
        return len(scores) - 1, len(scores) - 1

    yield "last_frame"
    unregister_strategy("last_frame")


def test_a_new_strategy_is_one_function_through_the_registry(last_frame_strategy):
    assert "last_frame" in strategy_names()
    config = GrounderConfig(num_frames=4, lra_steps=0, tas=False, temporal_strategy=last_frame_strategy,
                            span_mode="sampled")
    backend = StubBackend(4, 2, 2)
    engine = Engine(backend, config)
    encoded = engine.encode(np.zeros((4, 8, 8, 3), np.uint8), [0, 10, 20, 30], width=80, height=80, frame_count=40)
    track = Track(1, frames=range(40), boxes=[[0.0, 0.0, 40.0, 40.0]] * 40)
    outcome = engine.ground(encoded, "q", PARTS, [track])
    assert outcome.sampled_span == (3, 3) and outcome.span == (30, 31)


def test_registered_names_are_unique_and_unknown_ones_refused():
    with pytest.raises(ConfigError, match="already registered"):
        register_strategy("window")(lambda scores, params: (0, 0))
    with pytest.raises(ConfigError, match="temporal_strategy"):
        GrounderConfig(temporal_strategy="last_frame")
    with pytest.raises(ValueError, match="unknown temporal strategy"):
        select_span(np.ones(3), "nope", 2)


def test_a_strategy_returning_positions_out_of_range_is_caught():
    register_strategy("broken")(lambda scores, params: (0, len(scores)))
    try:
        with pytest.raises(ValueError, match="returned"):
            select_span(np.ones(3), "broken", 2)
    finally:
        unregister_strategy("broken")


@pytest.mark.parametrize(
    ("scores", "tie", "expected"),
    [
        ([0.0, 0.2, 1.0, 0.2, 0.0], "stop", (2, 2)),  # equal neighbours: the official loop stops
        ([0.0, 0.2, 1.0, 0.2, 0.0], "earlier", (1, 3)),
        ([1.0, 0.5, 0.2, 0.1], "stop", (0, 2)),  # out of range counts -100: it grows right
    ],
)
def test_window_tie_rules(scores, tie, expected):
    assert select_span(np.array(scores), "window", 3, tie=tie) == expected


def test_track_run_is_the_run_around_the_best_present_frame():
    assert track_run(np.array([0, 0, -1, 1, 1, 1]), np.array([0.9, 0.1, 1.0, 0.2, 0.8, 0.3])) == (0, 1)
    assert track_run(np.array([-1, -1]), np.array([1.0, 1.0])) is None


def test_default_span_stays_inside_the_tracks_run_in_video_frames():
    """``cover`` extends to halfway between samples, but never past the run of the track."""
    config = GrounderConfig(num_frames=4, lra_steps=0, tas=False, temporal_k=4, span_mode="cover")
    backend = StubBackend(4, 2, 2)
    engine = Engine(backend, config)
    encoded = engine.encode(np.zeros((4, 8, 8, 3), np.uint8), [0, 10, 20, 30], width=80, height=80, frame_count=40)
    # seen on 8..24, then marked absent on 26: runs (8, 24) only
    track = Track(2, frames=[8, 16, 24], boxes=[[0.0, 0.0, 40.0, 40.0]] * 3, absent=[26])
    outcome = engine.ground(encoded, "q", PARTS, [track])
    assert outcome.sampled_span == (1, 2) and outcome.span == (8, 25)


def test_default_gives_no_span_when_the_track_is_on_no_sampled_frame():
    config = GrounderConfig(num_frames=4, lra_steps=0, tas=False)
    engine = Engine(StubBackend(4, 2, 2), config)
    encoded = engine.encode(np.zeros((4, 8, 8, 3), np.uint8), [0, 10, 20, 30], width=80, height=80, frame_count=40)
    outcome = engine.ground(encoded, "q", PARTS, [Track(3, frames=[12, 14], boxes=[[0.0, 0.0, 8.0, 8.0]] * 2)])
    assert outcome.track_index == 0 and outcome.span is None
