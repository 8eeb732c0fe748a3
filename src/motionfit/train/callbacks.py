"""Cross-cutting training concerns as Lightning callbacks and plugins: the per-epoch metrics
table and curves, atomic checkpoint writes, and a checkpoint on SIGTERM."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from motionfit.atomic import atomic_write_bytes
from motionfit.train.plots import plot_curves

METRIC_COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "train_acc",
    "clean_train_acc",
    "val_loss",
    "val_top1",
    "val_top5",
    "lr",
)
_LOGGED = {
    "train_loss": "train/loss",
    "train_acc": "train/acc",
    "clean_train_acc": "clean_train/top1",
    "val_loss": "val/loss",
    "val_top1": "val/top1",
    "val_top5": "val/top5",
}


class EpochMetricsWriter(L.Callback):
    """Append one row per epoch to ``metrics.csv`` (see :data:`METRIC_COLUMNS`) and redraw
    ``curves.png`` (losses, accuracies, and the clean-train minus validation gap).

    On resume, rows of epochs that will be trained again are dropped first, so the table
    never holds an epoch twice. Files are replaced atomically.
    """

    def __init__(self, metrics_path: Path, curves_path: Path | None) -> None:
        self.metrics_path = Path(metrics_path)
        self.curves_path = curves_path

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Drop rows at or after the epoch training restarts from."""
        if trainer.is_global_zero and self.metrics_path.is_file():
            rows = [
                r for r in read_metrics(self.metrics_path) if r["epoch"] < trainer.current_epoch
            ]
            _write_rows(self.metrics_path, rows)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the finished epoch's row and the curves."""
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        row: dict[str, float] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        for column, key in _LOGGED.items():
            value = metrics.get(key)
            row[column] = float(value) if value is not None else math.nan
        row["lr"] = max(group["lr"] for group in trainer.optimizers[0].param_groups)
        rows = read_metrics(self.metrics_path) if self.metrics_path.is_file() else []
        rows = [r for r in rows if r["epoch"] != row["epoch"]] + [row]
        _write_rows(self.metrics_path, rows)
        if self.curves_path is not None:
            plot_curves(rows, self.curves_path)


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Rows of a ``metrics.csv`` as dicts of floats (``epoch``/``step`` as ints)."""
    with open(path, newline="") as handle:
        rows = []
        for raw in csv.DictReader(handle):
            row: dict[str, float] = {
                k: float(v) if v not in ("", None) else math.nan for k, v in raw.items()
            }
            row["epoch"], row["step"] = int(row["epoch"]), int(row["step"])
            rows.append(row)
        return rows


def _write_rows(path: Path, rows: list[dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k, math.nan)) for k in METRIC_COLUMNS})
    atomic_write_bytes(path, buffer.getvalue().encode())


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return "" if math.isnan(value) else f"{value:.6g}"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint writes that survive a kill: temp file in the checkpoint's own folder, then
    ``os.replace``. (Lightning's default stages in the system temp dir and moves, which is a
    copy, not a rename, when that is another filesystem.)"""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        """Serialize in memory, then write atomically."""
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())


class SigtermCheckpoint(L.Callback):
    """On SIGTERM (preemption, ``scancel``, ``kill``) Lightning stops at the next batch
    boundary; save ``last.ckpt`` there so ``--resume`` loses nothing."""

    def __init__(self, last_checkpoint: Path) -> None:
        self.last_checkpoint = Path(last_checkpoint)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        """Save the last checkpoint when the exception is Lightning's SIGTERM stop."""
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.last_checkpoint)
