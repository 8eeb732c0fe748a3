"""``motionfit data``: make, split, inspect and preview datasets."""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Make, split, inspect and preview video datasets.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the root app."""
    app.add_typer(data_app, name="data")
