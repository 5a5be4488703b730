"""``tubescope`` command group, the error policy and the entry point.

Errors tubescope raises on purpose (:class:`~tubescope.errors.TubescopeError`) and bad usage
print one line on stderr and exit with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import click

from tubescope._version import __version__
from tubescope.cli.demo_cmd import demo_command
from tubescope.cli.ground_cmd import ground_command
from tubescope.cli.info import info_command
from tubescope.cli.render_cmd import render_command
from tubescope.cli.synth import synth_command
from tubescope.cli.watch_cmd import watch_command
from tubescope.cli.eval_cmd import eval_command
from tubescope.cli.run_cmd import run_command
from tubescope.errors import TubescopeError

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """A click group that turns tubescope errors into one-line messages and exit code 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except (TubescopeError, OSError) as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            click.echo(f"error: {message}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="tubescope")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Find who/what, when and where in a video from a sentence."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


cli.add_command(ground_command)
cli.add_command(demo_command)
cli.add_command(info_command)
cli.add_command(render_command)
cli.add_command(synth_command)
cli.add_command(watch_command)
cli.add_command(eval_command)
cli.add_command(run_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="tubescope", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
