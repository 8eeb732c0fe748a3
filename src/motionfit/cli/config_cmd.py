"""``motionfit config``: list, show and validate recipes and config files."""

from __future__ import annotations

import typer
import yaml
from pydantic import BaseModel
from rich.table import Table

from motionfit.cli.common import SET_OPTION, console
from motionfit.config import Config, list_recipes, load_config

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
    describe: bool = typer.Option(
        False, "--describe", "-d", help="Add each field's description as a YAML comment."
    ),
) -> None:
    """Print the fully resolved YAML of a recipe or file, with overrides applied."""
    from motionfit.models.data_config import resolve_model_defaults

    config = resolve_model_defaults(load_config(name, overrides))
    text = described_yaml(config) if describe else config.to_yaml()
    typer.echo(_note_model_values(text, config), nl=False)


def _note_model_values(text: str, config: Config) -> str:
    """``text`` with a comment on each model-decided ``augment`` key (``mean``, ``std``,
    ``NAME.p``...) saying where its value comes from (the model, or the config)."""
    from motionfit.models.data_config import model_value_notes

    notes = model_value_notes(config)
    lines = text.splitlines()
    path: list[str] = []
    for i, line in enumerate(lines):
        depth = (len(line) - len(line.lstrip(" "))) // 2
        key = line.strip().split(":", 1)[0]
        if not key or key.startswith(("-", "#")):
            continue
        path = [*path[:depth], key]
        dotted = ".".join(path[1:])
        if path[0] == "augment" and dotted in notes:
            joiner = " Resolved: " if "  # " in line else "  # "
            lines[i] = f"{line}{joiner}{notes[dotted]}"
    return "\n".join(lines) + "\n"


def described_yaml(config: Config) -> str:
    """The resolved config as YAML that reads back to it, each section headed by its
    docstring and each field followed by its one-line description as a comment (an
    augmentation's section, ``augment.NAME``, nested under ``augment`` the same way)."""
    lines = []
    for name, value in config.model_dump(mode="json").items():
        info = Config.model_fields[name]
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            lines.append(f"{name}:  # {_first_line(section.__doc__)}")
            lines.extend(_described_fields(getattr(config, name), value, indent="  "))
        else:
            lines.append(_commented(_yaml_line(name, value), info.description or ""))
    return "\n".join(lines) + "\n"


def _described_fields(model: BaseModel, value: dict, indent: str) -> list[str]:
    """One commented line per field of ``model`` (dumped as ``value``); a nested section
    (an augmentation's) as its own block."""
    lines = []
    fields = type(model).model_fields
    for field, item in value.items():
        if field in fields:
            text = fields[field].description or ""
            lines.append(_commented(_yaml_line(field, item), text, indent=indent))
            continue
        nested = getattr(model, field)
        lines.append(f"{indent}{field}:  # {_first_line(type(nested).__doc__)}")
        lines.extend(_described_fields(nested, item, indent + "  "))
    return lines


def _yaml_line(key: str, value: object) -> str:
    """``key: value`` with collections in flow style, on one line."""
    return yaml.safe_dump({key: value}, default_flow_style=True, width=10**6)[1:-2]


def _commented(line: str, text: str, indent: str = "") -> str:
    return f"{indent}{line}  # {text}" if text else f"{indent}{line}"


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


@config_app.command("validate")
def config_validate(path: str = typer.Argument(..., help="YAML config file.")) -> None:
    """Check a config file; exit 2 with the offending key if it is invalid."""
    load_config(path)
    typer.echo(f"{path}: ok")


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group to the root app."""
    app.add_typer(config_app, name="config")
