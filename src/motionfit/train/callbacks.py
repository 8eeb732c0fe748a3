"""Cross-cutting training concerns as Lightning callbacks and plugins: the per-epoch metrics
table and curves, atomic checkpoint writes, checkpoints that move with their run directory,
stopping on SIGTERM/SIGINT at the next step with a checkpoint, and the run's hyperparameters
for the experiment loggers."""

from __future__ import annotations

import csv
import io
import math
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rich.console import Console

from motionfit.atomic import atomic_write_bytes
from motionfit.config import Config
from motionfit.errors import RunError
from motionfit.evaluation.plots import learning_curves_figure, png_bytes
from motionfit.run import metric_columns, read_metrics
from motionfit.stopping import StopRequest
from motionfit.train.loggers import tracked_hyperparameters
from motionfit.train.task import SteppedVideoTask

# metrics.csv column -> the logged metric it holds; ``epoch``, ``step`` and ``lr`` come first,
# second and last in every table.
CLASSIFICATION_METRICS = {
    "train_loss": "train/loss",
    "train_acc": "train/acc",
    "clean_train_acc": "clean_train/top1",
    "val_loss": "val/loss",
    "val_top1": "val/top1",
    "val_top5": "val/top5",
    "data_wait": "train/data_wait",  # share of step time waiting for data (train/timing.py)
}
METRIC_COLUMNS = ("epoch", "step", *CLASSIFICATION_METRICS, "lr")


class EpochMetricsWriter(L.Callback):
    """Append one row per epoch to ``metrics.csv`` and redraw ``curves.png`` (losses, and for
    classification accuracies and the clean-train minus validation gap).

    ``metrics`` maps a column to the logged metric it holds (default
    :data:`CLASSIFICATION_METRICS`, the columns :data:`METRIC_COLUMNS`); ``epoch``, ``step``
    and ``lr`` are always written. On resume, rows of epochs that will be trained again are
    dropped first, so the table never holds an epoch twice. Files are replaced atomically.
    """

    def __init__(
        self,
        metrics_path: Path,
        curves_path: Path | None,
        metrics: Mapping[str, str] = CLASSIFICATION_METRICS,
    ) -> None:
        self.metrics_path = Path(metrics_path)
        self.curves_path = curves_path
        self.metrics = dict(metrics)
        self.columns = ("epoch", "step", *self.metrics, "lr")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Drop rows at or after the epoch training restarts from (the loops are restored from
        the checkpoint by now; at ``on_fit_start`` they are not); a run starting at epoch 0
        starts an empty table without reading what the file held."""
        if trainer.is_global_zero and self.metrics_path.is_file():
            epoch = trainer.current_epoch
            rows = read_metrics(self.metrics_path) if epoch > 0 else []
            _write_rows(self.metrics_path, [r for r in rows if r["epoch"] < epoch], self.columns)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the finished epoch's row and the curves."""
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        row: dict[str, float] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        for column, key in self.metrics.items():
            value = metrics.get(key)
            row[column] = float(value) if value is not None else math.nan
        row["lr"] = max(group["lr"] for group in trainer.optimizers[0].param_groups)
        rows = read_metrics(self.metrics_path)
        rows = [r for r in rows if r["epoch"] != row["epoch"]] + [row]
        _write_rows(self.metrics_path, rows, self.columns)
        if self.curves_path is not None:
            figure = learning_curves_figure(metric_columns(rows))
            atomic_write_bytes(self.curves_path, png_bytes(figure))


def _write_rows(path: Path, rows: list[dict[str, float]], columns: Sequence[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k, math.nan)) for k in columns})
    atomic_write_bytes(path, buffer.getvalue().encode())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return "" if math.isnan(value) else f"{value:.6g}"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint writes that survive a kill: temp file in the checkpoint's own folder, then
    ``os.replace``. (Lightning's default stages in the system temp dir and moves, which is a
    copy, not a rename, when that is another filesystem.)

    Reads never unpickle code: ``torch.load(weights_only=True)`` explicitly, whatever the
    caller (``trainer.fit(ckpt_path=...)`` passes nothing) and the torch version (< 2.6
    defaults to False, and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` only overrides an unset value).
    """

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Any | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Read a checkpoint with ``weights_only=True`` (:func:`read_checkpoint`)."""
        del weights_only  # always True
        return read_checkpoint(path, map_location)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        """Serialize in memory, then write atomically."""
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())


def read_checkpoint(
    path: str | Path, map_location: Any | None = None, mmap: bool = False
) -> dict[str, Any]:
    """A Lightning checkpoint read with ``weights_only=True`` (``mmap``: tensors stay in the
    file's pages, which the processes of one machine share); a file that holds anything else
    than tensors and plain data, or is not a checkpoint, is a :class:`RunError`."""
    try:
        checkpoint = torch.load(
            path, map_location=map_location or "cpu", weights_only=True, mmap=mmap
        )
    except FileNotFoundError:
        raise RunError(f"checkpoint not found: {path}") from None
    except pickle.UnpicklingError as exc:
        raise RunError(
            f"{path}: refused to load, it holds Python objects besides tensors "
            "(checkpoints are read with weights_only=True)"
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise RunError(f"{path}: not a readable checkpoint ({_first_line(exc)})") from exc
    if not isinstance(checkpoint, dict):
        raise RunError(f"{path}: not a Lightning checkpoint")
    return checkpoint


class EpochPositionRecorder(L.Callback):
    """After each batch, record how many batches of the epoch the train loader has delivered
    (:class:`~motionfit.train.datamodule.ResumableLoader` saves it for mid-epoch resume).

    A callback, not a LightningModule hook: Lightning runs callbacks' ``on_train_batch_end``
    before the module's and ``ModelCheckpoint`` last of all, so a step checkpoint written at
    this batch already counts it (a module hook would save one batch too few and the resumed
    run would repeat it).
    """

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: object,
        batch: object,
        batch_idx: int,
    ) -> None:
        """Set ``batches_done`` on the train loader."""
        loader = trainer.train_dataloader
        if loader is not None and hasattr(loader, "batches_done"):
            loader.batches_done = batch_idx + 1


class RunCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` whose state follows its run directory: resumed after the run
    directory was moved or renamed, it keeps the best score and paths (rebased into the new
    folder) instead of starting its best-model tracking over, as Lightning does for a changed
    ``dirpath``."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load ``state_dict``, its paths moved from the saved ``dirpath`` to this one."""
        saved, here = state_dict.get("dirpath"), str(self.dirpath or "")
        if saved and here and saved != here:
            state_dict = {
                **state_dict,
                "dirpath": self.dirpath,
                **{
                    key: _rebase(state_dict.get(key), saved, here)
                    for key in ("best_model_path", "kth_best_model_path", "last_model_path")
                },
                "best_k_models": {
                    _rebase(path, saved, here): score
                    for path, score in (state_dict.get("best_k_models") or {}).items()
                },
            }
        super().load_state_dict(state_dict)


def _rebase(path: Any, old: str, new: str) -> Any:
    """``path`` below the folder ``old`` moved below ``new`` (other values unchanged)."""
    if not isinstance(path, str) or not path:
        return path
    try:
        return str(Path(new) / Path(path).relative_to(old))
    except ValueError:
        return path


class StopTraining(SIGTERMException):
    """Raised at a step or epoch boundary after a stop signal, once ``last.ckpt`` is saved."""


class LastCheckpoint(RunCheckpoint):
    """``last.ckpt`` every ``every_n_train_steps`` steps and at every epoch end, but never at
    an epoch's last batch: Lightning resumes a checkpoint taken there without running that
    epoch's validation and end-of-epoch hooks (its metrics row would be lost). A kill between
    the last batch and the epoch-end checkpoint resumes from the step before and repeats it.

    Lightning >= 2.6 saves ``last`` only after a top-k checkpoint of the same step, and this
    callback keeps no top-k checkpoints (``best.ckpt`` has its own callback): its hooks save
    ``last`` themselves, on ModelCheckpoint's schedule.

    With a ``stop`` request it also ends training the way clusters stop jobs: from the start of
    training it is the process's SIGTERM and SIGINT handler (in place of Lightning's, which
    would stop in the middle of a validation), and after the next training step (or, at an
    epoch's last step, after that epoch's validation and end-of-epoch hooks) it saves
    ``last.ckpt`` and raises :class:`StopTraining`. Every rank of a distributed run stops at the
    same step (the request is reduced over ranks at each boundary). Being a checkpoint
    callback, it runs after every other callback of the step, so the checkpoint is the one a
    scheduled step checkpoint would be: the resumed run repeats an uninterrupted one exactly.
    """

    def __init__(self, *args: Any, stop: StopRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop = stop

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Take SIGTERM and SIGINT over from Lightning; stop before the first step if a signal
        came during setup."""
        if self.stop is None:
            return
        self.stop.install()
        if self._stop_agreed(trainer, pl_module):
            raise StopTraining()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: object,
        batch: object,
        batch_idx: int,
    ) -> None:
        """Save on the step schedule, except at the epoch's last batch; stop after saving when a
        stop signal arrived."""
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        stopping = self._stop_agreed(trainer, pl_module)
        steps = self._every_n_train_steps
        if stopping or (steps >= 1 and trainer.global_step % steps == 0):
            self._save_last(trainer)
        if stopping:
            raise StopTraining()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Save at the end of every epoch (when validation runs once per epoch); stop after
        saving when a stop signal arrived."""
        saves_here = self._should_save_on_train_epoch_end(trainer)
        stopping = self._stop_agreed(trainer, pl_module)
        if saves_here or stopping:
            self._save_last(trainer)
        if stopping:
            raise StopTraining()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Save after validation when it runs at other times than once per epoch."""
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last(trainer)

    def _save_last(self, trainer: L.Trainer) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _stop_agreed(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        """Whether any rank received a stop signal (every rank calls this at the same points)."""
        if self.stop is None:
            return False
        flag = self.stop.pending
        if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
            tensor = torch.tensor([float(flag)], device=pl_module.device)
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
            flag = bool(tensor.item())
        return flag


class SigtermCheckpoint(L.Callback):
    """When Lightning's own SIGTERM handling stops a run (a SIGTERM before training started,
    or where :class:`LastCheckpoint` could not take the signals over), save ``last.ckpt`` at the
    stop so ``--resume`` loses nothing; a :class:`StopTraining` stop has saved it already."""

    def __init__(self, last_checkpoint: Path) -> None:
        self.last_checkpoint = Path(last_checkpoint)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        """Save the last checkpoint when the exception is Lightning's SIGTERM stop."""
        if isinstance(exception, SIGTERMException) and not isinstance(exception, StopTraining):
            trainer.save_checkpoint(self.last_checkpoint)


class TrackedHyperparameters(L.Callback):
    """The run's hyperparameters for every logger (:func:`~motionfit.train.loggers.
    tracked_hyperparameters`: the resolved config, the effective peak LR and the global batch)
    once at the start of fitting, on rank zero; at its end the best monitored score as
    ``best/MONITOR``, to TensorBoard together with the hyperparameters (its HPARAMS tab). With
    ``echo``, the peak LR and the global batch are also printed once on stderr."""

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.params: dict[str, Any] = {}

    # at fit start, not in configure_optimizers: the task stays free of tracking, and Lightning
    # writes TensorBoard's hparams.yaml (once, never updated) only after this hook
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log the hyperparameters to every logger; print the peak LR line with ``echo``."""
        if not trainer.is_global_zero or not isinstance(pl_module, SteppedVideoTask):
            return
        peak_lr, global_batch = pl_module.peak_lr(), pl_module.global_batch()
        self.params = tracked_hyperparameters(pl_module.config, peak_lr, global_batch)
        for logger in trainer.loggers:
            logger.log_hyperparams(self.params)
        if self.echo:
            line = peak_lr_line(pl_module.config, peak_lr, global_batch, trainer.world_size)
            Console(stderr=True).print(line, markup=False, highlight=False, soft_wrap=True)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log the best monitored score (TensorBoard: with the hyperparameters)."""
        callback = trainer.checkpoint_callback
        if not self.params or not isinstance(callback, ModelCheckpoint):
            return
        if callback.best_model_score is None:
            return
        best = {f"best/{callback.monitor}": float(callback.best_model_score)}
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(self.params, best, step=trainer.global_step)
            else:
                logger.log_metrics(best, step=trainer.global_step)


def peak_lr_line(config: Config, peak_lr: float, global_batch: int, world_size: int) -> str:
    """``peak LR ... , global batch ...``: the LR the optimizer peaks at and the global batch
    (and, with ``optim.base_batch_size``, how the LR was scaled to it)."""
    optim, train = config.optim, config.train
    source = (
        "optim.lr"
        if optim.base_batch_size is None
        else f"optim.lr {optim.lr:.3g} x {global_batch}/{optim.base_batch_size} "
        "optim.base_batch_size"
    )
    return (
        f"peak LR {peak_lr:.3g} ({source}), global batch {global_batch} = "
        f"{train.batch_size} per device x {world_size} device(s) x {train.accumulate} "
        "accumulated"
    )
