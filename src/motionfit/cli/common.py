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
