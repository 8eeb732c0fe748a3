"""Options and helpers shared by several commands."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

SET_OPTION = typer.Option(
    None,
    "--set",
    help="Override a config field: section.field=value (repeatable), e.g. optim.lr=1e-4.",
)
CONFIG_OPTION = typer.Option(None, "--config", "-c", help="Recipe name or YAML file.")
FORCE_OPTION = typer.Option(
    False,
    "--force",
    help="Write into an output folder that holds other files (never over the command's input).",
)


def _set_quiet(quiet: bool) -> bool:
    from motionfit.progress import set_quiet

    set_quiet(quiet)
    return quiet


QUIET_OPTION = typer.Option(
    False,
    "--quiet",
    "-q",
    help="No progress bar (there is none when stderr is not a terminal either).",
    callback=_set_quiet,
)
