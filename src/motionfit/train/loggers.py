"""The experiment loggers of a run (``output.loggers``), all Lightning's own: TensorBoard
(``RUN_DIR/tb``), CSV (``RUN_DIR/csv``), Weights & Biases (``wandb_mode``: online, or offline
into ``RUN_DIR/wandb`` for ``wandb sync``) and MLflow (``tracking_uri``, default a local SQLite
store ``RUN_DIR/mlflow.db`` with artifacts in ``RUN_DIR/mlruns``). wandb and mlflow are the
optional extra ``motionfit[track]``.

Every logger gets the run's hyperparameters (:func:`tracked_hyperparameters`, logged by
:class:`~motionfit.train.callbacks.TrackedHyperparameters`) and, once ``train`` scored the
test set, its final metrics (:func:`log_final_metrics`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from pydantic import BaseModel

from motionfit.config import Config, OutputConfig
from motionfit.errors import ConfigError

EXTRA_PACKAGES = {"wandb": "wandb", "mlflow": "mlflow"}


def build_loggers(output: OutputConfig, run_root: Path) -> list[Logger]:
    """One logger per name of ``output.loggers`` (without tensorboard when
    ``output.tensorboard`` is false), named after the run directory."""
    names = [n for n in dict.fromkeys(output.loggers) if output.tensorboard or n != "tensorboard"]
    return [_logger(name, output, Path(run_root)) for name in names]


def _logger(name: str, output: OutputConfig, root: Path) -> Logger:
    if name in EXTRA_PACKAGES:
        _require(EXTRA_PACKAGES[name])
    if name == "tensorboard":
        return TensorBoardLogger(save_dir=root, name="tb", version="", default_hp_metric=False)
    if name == "csv":
        return CSVLogger(save_dir=root, name="csv", version="")
    if name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(
            name=root.name,
            project=output.project,
            save_dir=str(root),
            offline=output.wandb_mode == "offline",
        )
    from lightning.pytorch.loggers import MLFlowLogger

    in_run = not output.tracking_uri  # the default store: database and artifacts in the run
    return MLFlowLogger(
        experiment_name=output.project,
        run_name=root.name,
        tracking_uri=output.tracking_uri or f"sqlite:///{(root / 'mlflow.db').resolve()}",
        artifact_location=(root / "mlruns").resolve().as_uri() if in_run else None,
    )


def _require(package: str) -> None:
    """:class:`ConfigError` naming the extra to install when ``package`` is missing."""
    from importlib.util import find_spec

    if find_spec(package) is None:
        raise ConfigError(
            f"config key 'output.loggers': {package} is not installed "
            "(pip install 'motionfit[track]')"
        )


def tracked_hyperparameters(config: Config, peak_lr: float, global_batch: int) -> dict[str, Any]:
    """A run's hyperparameters for the trackers: the resolved config under dotted keys
    (:func:`flat_settings`), the effective ``optim.peak_lr`` (after ``optim.base_batch_size``
    scaling) and ``train.global_batch`` (batch size x devices x accumulation)."""
    return flat_settings(config) | {"optim.peak_lr": peak_lr, "train.global_batch": global_batch}


def flat_settings(settings: BaseModel, prefix: str = "") -> dict[str, Any]:
    """Every field of ``settings`` and of its nested settings models under dotted keys
    (``optim.lr``, ``augment.mix.p``), JSON values; a dict-valued field
    (``augment.flip_label_map``) stays one value, as a JSON string."""
    # hand-written: Lightning's own flattening joins with "/" and splits dict values too
    dumped = settings.model_dump(mode="json")
    flat: dict[str, Any] = {}
    for name, value in dumped.items():
        nested = getattr(settings, name)
        if isinstance(nested, BaseModel):
            flat |= flat_settings(nested, f"{prefix}{name}.")
        else:
            flat[prefix + name] = json.dumps(value) if isinstance(value, dict) else value
    return flat


def log_final_metrics(
    loggers: Iterable[Logger], metrics: Mapping[str, Any], prefix: str, step: int
) -> None:
    """Log the numbers of ``metrics`` (a ``metrics.json`` dict) to the loggers of a finished
    fit as ``PREFIX/NAME`` at ``step`` (nested dicts such as the diagnostics as
    ``PREFIX/diagnostics/NAME/top1``), then finalize the loggers again (TensorBoard closes the
    event file it reopened)."""
    numbers = numeric_leaves(metrics, prefix)
    for logger in loggers:
        logger.log_metrics(numbers, step=step)
        logger.finalize("success")


def numeric_leaves(values: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The finite numbers of ``values`` and of its nested dicts as ``PREFIX/KEY/...``; lists,
    text and flags are left out."""
    # hand-written: no library flattens a metrics dict to its numbers alone
    leaves: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}/{key}"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if isinstance(value, Mapping):
            leaves |= numeric_leaves(value, name)
        elif number and math.isfinite(value):
            leaves[name] = float(value)
    return leaves
