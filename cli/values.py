"""Click parameter types shared by the commands: text and paths that must not be empty.

``--model ""`` or ``--out ""`` is a slip (an unset shell variable) that would otherwise mean
"the current folder" or fail later with an unrelated message; these types reject it while the
command line is parsed, naming the option.

Example:
    >>> import click
    >>> from click.testing import CliRunner
    >>> @click.command()
    ... @click.option("--model", type=TEXT)
    ... def show(model):
    ...     click.echo(model)
    >>> CliRunner().invoke(show, ["--model", " "]).output.splitlines()[-1]
    "Error: Invalid value for '--model': must not be empty"
"""

from __future__ import annotations

from typing import Any

import click

__all__ = ["TEXT", "NonEmptyText", "NonEmptyPath"]


def _reject_empty(kind: click.ParamType, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> None:
    if isinstance(value, str) and not value.strip():
        kind.fail("must not be empty", param, ctx)


class NonEmptyText(click.ParamType):
    """A string with something in it besides blanks."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        _reject_empty(self, value, param, ctx)
        return value


class NonEmptyPath(click.Path):
    """:class:`click.Path` that refuses an empty value (``Path("")`` is the current folder)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        _reject_empty(self, value, param, ctx)
        return super().convert(value, param, ctx)


#: The type of free-text options (``--model``, ``--device``, ``--proposals``, ...).
TEXT = NonEmptyText()
