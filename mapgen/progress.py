"""Progress bars and messages on stderr (rich), quiet when asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, soft_wrap=True)


@contextmanager
def stage(description: str, total: int | None = None, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """Show one pipeline step as a progress bar; yields ``advance(n)``."""
    if quiet:
        yield lambda n: None
        return
    columns = [
        TextColumn("{task.description}", markup=False),  # descriptions hold file names: plain text
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)
        progress.update(task, completed=total if total is not None else 1, total=total or 1)


def say(message: str, quiet: bool = False) -> None:
    """Print a message for the user (stderr)."""
    if not quiet:
        console.print(message, highlight=False)
