"""Choices read from a registry on use: ``tubescope demo --family`` offers the registered
families."""

from __future__ import annotations

import click
from click.testing import CliRunner

from tubescope.cli.choices import LazyChoice
from tubescope.cli.main import cli
from tubescope.engine.backends.families import tiny_families


def test_demo_offers_every_family_with_a_tiny_recipe():
    """The hand-written list missed internvl."""
    families = tiny_families()
    assert "internvl" in families
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0 and f"[{'|'.join(families)}]" in result.output
    bad = CliRunner().invoke(cli, ["demo", "--family", "gpt-2"])
    assert bad.exit_code == 2 and "'gpt-2' is not one of" in bad.output
    assert "'internvl'" in bad.output


def test_lazy_choice_reads_its_loader_on_use_only():
    calls = []

    def load():
        calls.append(1)
        return ["a", "b"] if len(calls) == 1 else ["a", "b", "c"]

    @click.command()
    @click.option("--x", type=LazyChoice(load))
    def command(x):
        click.echo(x)

    assert calls == []  # defining the command reads nothing
    assert CliRunner().invoke(command, ["--x", "b"]).output == "b\n"
    assert CliRunner().invoke(command, ["--x", "c"]).output == "c\n"  # read again: now offered
