"""Options and helpers shared by several commands."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from motionfit.errors import ConfigError, RunError

if TYPE_CHECKING:
    from motionfit.config import Config

console = Console()
err_console = Console(stderr=True)

SET_OPTION = typer.Option(
    None,
    "--set",
    help="Override a config field: section.field=value (repeatable), e.g. optim.lr=1e-4.",
)
CONFIG_OPTION = typer.Option(None, "--config", "-c", help="Recipe name or YAML file.")
DATA_OPTION = typer.Option(None, "--data", help="Training data (folder, list, split file).")
VAL_OPTION = typer.Option(None, "--val", help="Validation data (default: 70/30 split).")
RUN_OUT_OPTION = typer.Option(None, "--out", "-o", help="Run directory to create.")
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


def load_with_data(
    config: str | None, overrides: list[str] | None, data: Mapping[str, str | None]
) -> Config:
    """``--config`` with the ``--set`` overrides, then ``KEY=VALUE`` for each data option given
    (``data`` maps a config key such as ``data.source`` to the option's value)."""
    from motionfit.config import load_config

    sets = [f"{key}={value}" for key, value in data.items() if value]
    return load_config(config, [*(overrides or []), *sets])


def run_config(
    *,
    resume: Path | None,
    out: Path | None,
    config: str | None,
    overrides: list[str] | None,
    data: Mapping[str, str | None],
    default_config: str | None = None,
    resume_conflicts: Iterable[object] = (),
) -> tuple[Config, Path]:
    """The config and run directory of a command that starts or continues a run: with
    ``--resume RUN_DIR`` the run's own config plus ``--set`` overrides (``--config``, a data
    option or any of ``resume_conflicts`` is an error); else ``--config`` (or
    ``default_config``) with the data options, and ``--out`` is required."""
    from motionfit.config import load_config
    from motionfit.run import RunPaths

    if resume is not None:
        if config or any(data.values()) or any(resume_conflicts):
            raise ConfigError(
                "--resume continues a run with its own config and data; "
                "only --set overrides may be added"
            )
        if resume.exists() and not resume.is_dir():
            raise RunError(f"--resume {resume} is a file; --resume takes a run directory")
        if not RunPaths(resume).config.is_file():
            raise RunError(
                f"--resume {resume}: nothing to resume (no {RunPaths(resume).config.name})"
            )
        return load_config(RunPaths(resume).config, overrides), resume
    if out is None:
        raise ConfigError("missing --out RUN_DIR (where the run is written)")
    return load_with_data(config or default_config, overrides, data), out


def quiet_lightning() -> None:
    """Keep Lightning's info chatter (tips, device lines, a torch-pytree deprecation notice it
    triggers on torch >= 2.10, no-logger notices) and MLflow's (database creation and
    migration, a new experiment) out of the console."""
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # output.tensorboard=false: the task still logs step values for a logger there is not
    warnings.filterwarnings("ignore", message=r"You called `self.log\(.*but have no logger")
    # a resumed run's checkpoints folder holds its own checkpoints, by design
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # metrics.csv and the curves are per epoch: fewer batches than the step-log interval is fine
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow sets its loggers' levels when imported, from MLFLOW_LOGGING_LEVEL (default INFO)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):  # for an MLflow imported already
        logging.getLogger(name).setLevel(logging.WARNING)
    # every run's own store starts empty: "Experiment with name ... not found. Creating it."
    logging.getLogger("lightning.pytorch.loggers.mlflow").setLevel(logging.ERROR)
