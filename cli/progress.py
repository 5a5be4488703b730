"""Rich progress bars for long CLI work (written to stderr, quiet when not a terminal)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@contextmanager
def frame_progress(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A bar for ``total`` items; yields ``advance(done, total)``."""
    with make_progress() as progress:
        task = progress.add_task(label, total=total)

        def advance(done: int, _total: int) -> None:
            progress.update(task, completed=done)

        yield advance
