"""The run template: the one sequence that ``train``, ``pretrain`` and the feature probe
configure (as timm's ``train.py`` is one script whatever the model).

A command describes its run with a :class:`RunTemplate` (its data, its task, its extra
callbacks, what to do once the best weights are exported); :func:`run_template` does the rest,
always in this order: check the monitored metric, open the output folder (writes nothing),
read the data and check the settings (strides resolved before the data module exists), build
the task and the Trainer, check that one full batch fits, claim the folder and write the
config, fit (resuming from ``last.ckpt``; SIGTERM/SIGINT stop at the next step with a
checkpoint), export the best weights as ``model.safetensors``.
"""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from motionfit.atomic import atomic_write_bytes
from motionfit.config import Config
from motionfit.errors import ConfigError, DataError
from motionfit.run import RunPaths
from motionfit.run_start import RunDataModule, open_run, start_run
from motionfit.stopping import Interrupted, StopRequest
from motionfit.train.callbacks import LastCheckpoint, TrackedHyperparameters
from motionfit.train.task import TrainingDivergedError
from motionfit.train.trainer import build_trainer


class RunInterrupted(Interrupted):
    """The run stopped on SIGTERM or SIGINT after saving ``last.ckpt`` (exit 143 or 130, as the
    signal's default)."""


@dataclass(frozen=True)
class RunData:
    """What :meth:`RunTemplate.data` returns: the config to train with (strides resolved), the
    data module (records read, settings checked) and how many training items it has."""

    config: Config
    datamodule: RunDataModule
    training_items: int


@dataclass(frozen=True)
class FinishedRun:
    """A fit that ended: its Trainer, run folder, config and best checkpoint (None when none
    was saved)."""

    trainer: L.Trainer
    run: RunPaths
    config: Config
    best: Path | None


class RunTemplate(ABC):
    """What a training command configures of :func:`run_template`."""

    command: ClassVar[str]  # the run's kind in run.json and in "motionfit COMMAND --resume"
    metrics: ClassVar[Mapping[str, str]]  # metrics.csv column -> logged metric
    activity: ClassVar[str]  # "training" / "pretraining", in messages

    @abstractmethod
    def data(self, config: Config, run: RunPaths, resume: bool) -> RunData:
        """Read the data and check the settings; writes nothing."""

    @abstractmethod
    def task(self, config: Config, data: RunData) -> L.LightningModule:
        """The LightningModule to fit."""

    def callbacks(self, config: Config, run: RunPaths) -> list[L.Callback]:
        """Callbacks of this kind of run (none by default)."""
        return []

    def started(self, run: RunPaths, progress: bool) -> None:  # noqa: B027 (optional hook)
        """Once the folder is claimed, on rank zero: say what is being trained."""

    def finished(self, run: RunPaths, config: Config) -> None:  # noqa: B027 (optional hook)
        """On rank zero, after the best weights are exported."""


def run_template(
    template: RunTemplate,
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    callbacks: list[L.Callback] | None = None,
    inputs: Sequence[str] | None = None,
) -> FinishedRun:
    """Run ``template`` into ``out`` (see the module docstring for the order of things).
    ``inputs`` are what the output may not be, hold or lie in (default: the config's data)."""
    check_monitor(config.train.monitor, template.metrics.values(), template.activity)
    run, start = open_run(config, out, template.command, resume=resume, force=force, inputs=inputs)
    data = template.data(config, run, start.resume)
    config = data.config
    task = template.task(config, data)
    tracked = TrackedHyperparameters(echo=progress)  # the config in every logger
    extra = [*template.callbacks(config, run), tracked, *(callbacks or [])]
    trainer = build_trainer(config, run, progress, extra, metrics=template.metrics)  # no writes
    check_trains_some_steps(data.training_items, config, trainer.world_size)
    start_run(run, template.command, start, config, data.datamodule)
    if trainer.is_global_zero:
        template.started(run, progress)
    fit_or_interrupt(trainer, task, data.datamodule, run, start.resume, template.command)
    best = best_checkpoint(trainer, run)
    if trainer.is_global_zero and best is not None:
        export_weights(best, run.model)
        template.finished(run, config)
    return FinishedRun(trainer, run, config, best)


def check_monitor(monitor: str, logged: Iterable[str], task: str) -> None:
    """:class:`ConfigError` when ``train.monitor`` is not a metric the task logs."""
    logged = list(logged)
    if monitor not in logged:
        raise ConfigError(
            f"config key 'train.monitor': {task} logs {', '.join(logged)}, not {monitor!r}"
        )


def check_trains_some_steps(num_videos: int, config: Config, world_size: int) -> None:
    """:class:`DataError` when ``num_videos`` training videos shared by ``world_size``
    processes make no full batch on each (the last partial batch of an epoch is dropped): such
    a run would train zero steps."""
    batch = config.train.batch_size
    if num_videos // world_size < batch:
        devices = f" on each of {world_size} devices" if world_size > 1 else ""
        raise DataError(
            f"{config.data.source}: {num_videos} training videos make no full batch of "
            f"train.batch_size={batch}{devices} (the remainder is dropped), so nothing would "
            "be trained; lower train.batch_size or add videos"
        )


def fit_or_interrupt(
    trainer: L.Trainer,
    task: L.LightningModule,
    datamodule: L.LightningDataModule,
    run: RunPaths,
    resume: bool,
    command: str,
) -> None:
    """``trainer.fit`` (from ``last.ckpt`` when resuming) with SIGTERM and SIGINT caught: the
    run stops at the next step with ``last.ckpt`` saved there (see
    :class:`~motionfit.train.callbacks.LastCheckpoint`) and :class:`RunInterrupted` tells how to
    continue with ``motionfit COMMAND --resume`` (exit 143, or 130 for SIGINT). A signal that
    arrives once training has ended stops the command there too (before the export)."""
    stop = _stop_request(trainer)
    try:
        with stop.installed():
            trainer.fit(
                task, datamodule=datamodule, ckpt_path=run.last_checkpoint if resume else None
            )
    except TrainingDivergedError as exc:
        kept = (
            f"its last good checkpoint {run.last_checkpoint} is kept"
            if run.last_checkpoint.is_file()
            else "no checkpoint had been saved yet, so run it again from the start"
        )
        raise TrainingDivergedError(f"{exc}; {kept}") from exc
    except SIGTERMException as exc:
        stop.signum = stop.signum or signal.SIGTERM
        raise _interrupted(stop, trainer, run, command) from exc
    if stop.pending:
        raise _interrupted(stop, trainer, run, command)


def _stop_request(trainer: L.Trainer) -> StopRequest:
    """The stop request ``trainer``'s :class:`LastCheckpoint` acts on (a new one if none)."""
    for callback in trainer.callbacks:  # type: ignore[attr-defined]  # Lightning's property
        if isinstance(callback, LastCheckpoint) and callback.stop is not None:
            return callback.stop
    return StopRequest()


def _interrupted(stop: StopRequest, trainer: L.Trainer, run: RunPaths, command: str) -> Interrupted:
    if not run.last_checkpoint.is_file():
        return RunInterrupted(
            f"stopped by {stop.name} before the first checkpoint; nothing to keep. Start it "
            f"again with the same command",
            stop.signum or signal.SIGTERM,
        )
    return RunInterrupted(
        f"stopped by {stop.name} at step {trainer.global_step}; {run.last_checkpoint} saved. "
        f"Continue with: motionfit {command} --resume {run.root}",
        stop.signum or signal.SIGTERM,
    )


def export_weights(checkpoint: Path, out: Path) -> Path:
    """Write the model weights of a Lightning checkpoint (EMA weights when EMA was on) as a
    safetensors file with the task model's own keys (a ``VideoClassifier``'s, or
    ``VideoMAEForPreTraining``'s for a pretraining run). The class names of the run's
    ``labels.txt`` beside ``out`` (a pretraining run has none) go into the file's metadata, so
    that its head transfers by class name."""
    from safetensors.torch import save

    from motionfit.data.records import LabelMap
    from motionfit.models.weights import class_metadata

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    weights = {
        key.removeprefix("model."): value.contiguous()
        for key, value in state.items()
        if key.startswith("model.")
    }
    labels = RunPaths(out.parent).labels
    metadata = class_metadata(LabelMap.load(labels).names) if labels.is_file() else None
    return atomic_write_bytes(out, save(weights, metadata))


def best_score(trainer: L.Trainer) -> float | None:
    """The best monitored score of ``trainer``'s fit (None before any checkpoint)."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_score is not None:
        return float(callback.best_model_score)
    return None


def best_checkpoint(trainer: L.Trainer, run: RunPaths) -> Path | None:
    """The best checkpoint of a finished fit (else ``best.ckpt``, else ``last.ckpt``)."""
    callback = trainer.checkpoint_callback
    if (
        isinstance(callback, ModelCheckpoint)
        and callback.best_model_path
        and Path(callback.best_model_path).is_file()
    ):
        return Path(callback.best_model_path)
    if run.best_checkpoint.is_file():
        return run.best_checkpoint
    return run.last_checkpoint if run.last_checkpoint.is_file() else None
