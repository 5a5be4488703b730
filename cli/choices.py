"""Click choices read from a registry when first needed, not when the command is defined.

``tubescope --help`` and every command's import stay free of torch; the choices of
``tubescope demo --family`` come from the model-family registry
(:mod:`tubescope.engine.backends.families`) when that option is parsed or its help shown, and
so import the adapter modules then. ``--dataset`` of ``eval``, ``run`` and ``ground`` reads the
dataset table (:mod:`tubescope.eval.datasets`), so a registered dataset is offered at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click

__all__ = ["LazyChoice", "dataset_choice", "tiny_family_choice"]


class LazyChoice(click.Choice):
    """A :class:`click.Choice` whose choices are ``load()``, read each time they are used."""

    def __init__(self, load: Callable[[], Iterable[str]], case_sensitive: bool = True) -> None:
        self._load = load
        self.case_sensitive = case_sensitive

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._load())

    @choices.setter
    def choices(self, value: Any) -> None:
        raise AttributeError("the choices of a LazyChoice come from its loader")


def _tiny_families() -> tuple[str, ...]:
    from tubescope.engine.backends.families import tiny_families

    return tiny_families()


def tiny_family_choice() -> LazyChoice:
    """The model families :func:`tubescope.testing.save_tiny_model` can write."""
    return LazyChoice(_tiny_families)


def _datasets() -> tuple[str, ...]:
    from tubescope.eval.datasets import dataset_names

    return dataset_names()


def dataset_choice() -> LazyChoice:
    """The datasets of the dataset table (``--dataset``)."""
    return LazyChoice(_datasets)
