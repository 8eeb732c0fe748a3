"""The experiment loggers of a run (``output.loggers``), all Lightning's own: TensorBoard
(``RUN_DIR/tb``), CSV (``RUN_DIR/csv``), Weights & Biases (``wandb_mode``: online, or offline
into ``RUN_DIR/wandb`` for ``wandb sync``) and MLflow (``tracking_uri``, default a local SQLite
store ``RUN_DIR/mlflow.db``). wandb and mlflow are the optional extra ``motionfit[track]``."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from motionfit.config import OutputConfig
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

    uri = output.tracking_uri or f"sqlite:///{(root / 'mlflow.db').resolve()}"
    return MLFlowLogger(experiment_name=output.project, run_name=root.name, tracking_uri=uri)


def _require(package: str) -> None:
    """:class:`ConfigError` naming the extra to install when ``package`` is missing."""
    from importlib.util import find_spec

    if find_spec(package) is None:
        raise ConfigError(
            f"config key 'output.loggers': {package} is not installed "
            "(pip install 'motionfit[track]')"
        )
