"""Progress bars for the long non-training commands (evaluate, predict, report, export, data
inspect): a rich bar with ETA on stderr when it is a terminal, silent otherwise or when the
command runs with ``-q`` (:func:`set_quiet`). Training uses Lightning's rich bar instead."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence (or allow) every progress bar of this process (the CLI's ``-q``)."""
    _state["quiet"] = quiet


def progress_bar(
    description: str, console: Console | None = None, enabled: bool | None = None
) -> Progress:
    """A rich ``Progress`` on stderr: description, bar, done/total, elapsed, ETA; disabled
    when stderr is not a terminal or after ``set_quiet(True)``, unless ``enabled`` says
    otherwise."""
    console = console or Console(stderr=True)
    if enabled is None:
        enabled = not _state["quiet"] and console.is_terminal
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=True,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar (``total`` defaults to ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
