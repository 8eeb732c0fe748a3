"""``motionfit config``: list, show and validate recipes and config files."""

from __future__ import annotations

import typer
from rich.table import Table

from motionfit.cli.common import SET_OPTION, console
from motionfit.config import list_recipes, load_config

config_app = typer.Typer(help="List, show and validate experiment configs.", no_args_is_help=True)


@config_app.command("list")
def config_list() -> None:
    """List the recipes shipped with motionfit."""
    table = Table("recipe", "description")
    for name, description in list_recipes().items():
        table.add_row(name, description)
    console.print(table)


@config_app.command("show")
def config_show(
    name: str = typer.Argument(..., help="Recipe name or YAML file."),
    overrides: list[str] | None = SET_OPTION,
) -> None:
    """Print the fully resolved YAML of a recipe or file, with overrides applied."""
    typer.echo(load_config(name, overrides).to_yaml(), nl=False)


@config_app.command("validate")
def config_validate(path: str = typer.Argument(..., help="YAML config file.")) -> None:
    """Check a config file; exit 2 with the offending key if it is invalid."""
    load_config(path)
    typer.echo(f"{path}: ok")


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group to the root app."""
    app.add_typer(config_app, name="config")
