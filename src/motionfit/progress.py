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
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")
_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence (or allow) every progress bar of this process (the CLI's ``-q``)."""
    _state["quiet"] = quiet


class RateColumn(ProgressColumn):
    """Items per second (``12.3 videos/s``); rich's own speed columns count bytes or show a
    rate only without a total, so this one is hand-written."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        """The task's current speed, or nothing before there is one."""
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {self.unit}/s")


def progress_bar(
    description: str,
    console: Console | None = None,
    enabled: bool | None = None,
    unit: str | None = None,
) -> Progress:
    """A rich ``Progress`` on stderr: description, bar, done/total, elapsed, ETA (and the rate
    in ``unit``/s when given); disabled when stderr is not a terminal or after
    ``set_quiet(True)``, unless ``enabled`` says otherwise."""
    console = console or Console(stderr=True)
    if enabled is None:
        enabled = not _state["quiet"] and console.is_terminal
    rate = [RateColumn(unit)] if unit else []
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        *rate,
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
