"""``tubescope`` command group, the error policy and the entry point.

Errors tubescope raises on purpose (:class:`~tubescope.errors.TubescopeError`), operating-system
errors (a full disk, a permission) and bad usage (an unknown option, a value of the wrong
type) print exactly one line, ``error: ...``, on stderr and exit with code 2; ``--debug``,
anywhere on the command line, shows the traceback instead. Ctrl-C exits with code 130 in
every command. Anything else is a bug: its traceback is printed (exit code 1).
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from tubescope._version import __version__
from tubescope.cli.demo_cmd import demo_command
from tubescope.cli.eval_cmd import eval_command
from tubescope.cli.ground_cmd import ground_command
from tubescope.cli.info import info_command
from tubescope.cli.render_cmd import render_command
from tubescope.cli.run_cmd import run_command
from tubescope.cli.synth import synth_command
from tubescope.cli.watch_cmd import watch_command
from tubescope.errors import TubescopeError

__all__ = ["cli", "main", "EXIT_USER_ERROR", "EXIT_INTERRUPTED", "one_line", "hoist_debug"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

#: How each command names the settings that library messages call by their Python names.
_FLAG_NAMES: dict[str, dict[str, str]] = {
    "ground": {"num_frames": "--frames"},
    "watch": {"num_frames": "--num-frames"},
    "run": {"num_frames": "--set num_frames"},
}
_PYTHON_NAME = re.compile(r"\bGrounderConfig\.([a-z_]+)\b")


def one_line(message: str, command: str | None = None) -> str:
    """The first line of ``message``, with Python names replaced by the flags of ``command``.

    Example:
        >>> one_line("clip.mp4: has 3 frames (lower GrounderConfig.num_frames)\\nmore", "ground")
        'clip.mp4: has 3 frames (lower --frames)'
        >>> one_line("bad GrounderConfig.lra_beta", "run")
        'bad --set lra_beta'
    """
    first = message.strip().splitlines()[0] if message.strip() else ""
    flags = _FLAG_NAMES.get(command or "", {})

    def flag(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in flags:
            return flags[name]
        return f"--set {name}" if command == "run" else match.group(0)

    return _PYTHON_NAME.sub(flag, first)


def hoist_debug(args: Sequence[str]) -> list[str]:
    """``args`` with every ``--debug`` (before a ``--``) moved to the front, where the group reads it.

    Example:
        >>> hoist_debug(["ground", "v.mp4", "a dog", "--debug"])
        ['--debug', 'ground', 'v.mp4', 'a dog']
        >>> hoist_debug(["ground", "v.mp4", "--", "--debug"])
        ['ground', 'v.mp4', '--', '--debug']
    """
    args = list(args)
    end = args.index("--") if "--" in args else len(args)
    head, tail = args[:end], args[end:]
    if "--debug" not in head:
        return args
    return ["--debug", *[a for a in head if a != "--debug"], *tail]


class _Group(click.Group):
    """A click group that applies the error policy of the module docstring."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        words = hoist_debug(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(words, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(words, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:
            err.show()
            sys.exit(err.exit_code)
        except click.UsageError as err:
            where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
            click.echo(f"error: {one_line(err.format_message())}{where}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except click.ClickException as err:
            click.echo(f"error: {one_line(err.format_message())}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:  # Ctrl-C while click itself was reading input
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        def debug() -> bool:  # set by the group's callback, inside super().invoke
            return bool(ctx.obj and ctx.obj.get("debug"))

        try:
            return super().invoke(ctx)
        except (TubescopeError, OSError) as err:
            if debug():
                raise
            message = one_line(str(err), ctx.invoked_subcommand) or type(err).__name__
            click.echo(f"error: {message}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            if debug():
                traceback.print_exc()
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="tubescope")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors (anywhere on the command line).")
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
