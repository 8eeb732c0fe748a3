"""``train``: one function from a config to a finished run directory.

Builds the data module, model, task, callbacks and Lightning Trainer from the config; runs or
resumes ``fit``; exports the best weights as ``model.safetensors``; scores the test set.
"""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rich.console import Console

from motionfit.atomic import atomic_write_bytes
from motionfit.config import Config, load_config
from motionfit.errors import ConfigError, DataError, RunError
from motionfit.models.adapt import adapt_for_training
from motionfit.models.build import build_model_from_config
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.lora import merge_lora_file
from motionfit.models.registry import get_spec
from motionfit.models.weights import report_load
from motionfit.output_dir import releases_output_locks
from motionfit.run import RunPaths
from motionfit.run_start import is_rank_zero, open_run, start_run
from motionfit.stopping import Interrupted, StopRequest
from motionfit.train.callbacks import (
    CLASSIFICATION_METRICS,
    AtomicCheckpointIO,
    EpochMetricsWriter,
    EpochPositionRecorder,
    LastCheckpoint,
    RunCheckpoint,
    SigtermCheckpoint,
)
from motionfit.train.datamodule import VideoDataModule
from motionfit.train.loggers import build_loggers
from motionfit.train.speed import apply_speed_switches
from motionfit.train.summary import ParameterSummary
from motionfit.train.task import TrainingDivergedError, VideoClassificationTask
from motionfit.train.timing import DataWaitTimer


class RunInterrupted(Interrupted):
    """The run stopped on SIGTERM or SIGINT after saving ``last.ckpt`` (exit 143 or 130, as the
    signal's default)."""


@dataclass
class TrainResult:
    """What a finished ``train`` call produced."""

    run: RunPaths
    monitor: str
    best_score: float | None
    epochs: int
    steps: int
    test_metrics: dict | None = None

    @classmethod
    def of(
        cls, trainer: L.Trainer, run: RunPaths, monitor: str, test_metrics: dict | None = None
    ) -> TrainResult:
        """The result of ``trainer``'s finished fit into ``run``."""
        return cls(
            run=run,
            monitor=monitor,
            best_score=best_score(trainer),
            epochs=trainer.current_epoch,
            steps=trainer.global_step,
            test_metrics=test_metrics,
        )


@releases_output_locks  # the run folder's lock ends with the call
def train(
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    progress: bool = True,
    callbacks: list[L.Callback] | None = None,
    force: bool = False,
) -> TrainResult:
    """Train (or, with ``resume``, continue) the run in ``out``; see :mod:`motionfit.run` for
    what the directory holds.

    A new run refuses a directory that holds a started run, files motionfit did not write
    (unless ``force``) or the training data; a run that never started is started again.
    Data, settings and the model are checked before anything is written. ``resume``
    continues from ``checkpoints/last.ckpt`` with optimizer, schedule, data position and
    random state. ``init_from`` starts the backbone from another run's weights (e.g. a
    pretraining run). ``callbacks`` are added to the Trainer's (e.g. a sweep's pruning
    callback).
    """
    config = resolve_model_defaults(config)  # the model's normalization and debiasing
    check_monitor(config.train.monitor, CLASSIFICATION_METRICS.values(), "training")
    run, start = open_run(config, out, "train", resume=resume, force=force)
    datamodule = VideoDataModule(config, run, resume=start.resume)
    labels = datamodule.prepare_records()  # bad data or settings fail before anything is written
    config = datamodule.config  # with the frame rate strides are counted at (stride_fps)
    model = build_model_from_config(
        config, len(labels), _initial_weights(config, init_from), class_names=labels.names
    )
    adapted = adapt_for_training(model, config.model)  # model.freeze, model.lora
    apply_speed_switches(model, get_spec(config.model.name), config.train)
    task = VideoClassificationTask(config, model, len(labels), class_names=labels.names)
    trainer = build_trainer(config, run, progress, extra_callbacks=callbacks)  # writes nothing
    check_trains_some_steps(len(datamodule.train_records), config, trainer.world_size)
    start_run(run, "train", start, config, datamodule)
    if is_rank_zero():
        if model.load_report is not None:
            report_load(model.load_report, run.root, echo=progress)
        if progress and adapted.count.trainable < adapted.count.total:
            Console(stderr=True).print(adapted.count.summary(), markup=False, highlight=False)
    fit_or_interrupt(trainer, task, datamodule, run, start.resume, command="train")
    best = best_checkpoint(trainer, run)
    if trainer.is_global_zero and best is None:
        raise RunError(f"{run.root}: training ended before any checkpoint was saved; no weights")
    test_metrics = None
    if trainer.is_global_zero and best is not None:
        export_weights(best, run.model)
        if adapted.lora is not None:
            merge_lora_file(adapted.lora, run.model)  # plain weights: loads without PEFT
        if config.eval.validation_is_cheaper():
            score_validation_as_evaluate(run, config, echo=progress)
        if config.data.test:
            test_metrics = evaluate_test_set(run, config.data.test)
    return TrainResult.of(trainer, run, config.train.monitor, test_metrics)


def score_validation_as_evaluate(run: RunPaths, config: Config, echo: bool = True) -> dict:
    """Score the validation videos with the best weights the way ``evaluate`` does (all of
    ``eval.clips`` x ``eval.crops``) into ``RUN_DIR/eval_val/metrics.json``, and say how that
    differs from the cheaper validation that picked the checkpoint; returns the metrics."""
    from motionfit.evaluation.evaluate import val_eval_dir

    source = config.data.val or str(run.split_dir / "val.txt")
    metrics = evaluate_test_set(run, source, out_dir=val_eval_dir(run))
    if echo:
        clips, crops = config.eval.validation_views()
        Console(stderr=True).print(
            f"validation scored {clips} clip(s) x {crops} crop(s) per video; evaluate scores "
            f"{config.eval.clips} x {config.eval.crops}: the best checkpoint gets "
            f"{metrics['top1']:.1%} top-1 on the validation videos that way "
            f"({val_eval_dir(run) / 'metrics.json'})",
            markup=False,
            highlight=False,
        )
    return metrics


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


def evaluate_test_set(run: RunPaths, source: str, out_dir: Path | None = None) -> dict:
    """Multi-view evaluation of a finished run on a labeled test set (classes matched by
    name); writes metrics.json, confusion.png, per_class.csv and mistakes.csv to ``out_dir``
    (default ``RUN_DIR/eval``) and returns the metrics."""
    from motionfit.data.records import read_records
    from motionfit.evaluation.evaluate import align_labels, evaluate_run
    from motionfit.run import load_run

    loaded = load_run(run.root)
    data = loaded.config.data
    records, data_labels = read_records(source, data.format, data.video_root)
    records = align_labels(records, data_labels, loaded.labels, source)
    return evaluate_run(loaded, records, out_dir=out_dir, data_name=str(source))


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


def build_trainer(
    config: Config,
    run: RunPaths,
    progress: bool = True,
    extra_callbacks: list[L.Callback] | None = None,
    metrics: Mapping[str, str] = CLASSIFICATION_METRICS,
) -> L.Trainer:
    """The Lightning Trainer of a run: devices, precision, callbacks, logger, atomic IO.
    ``metrics`` are the ``metrics.csv`` columns (column -> logged metric)."""
    cfg = config.train
    check_cluster(cfg.num_nodes)
    mode = "min" if "loss" in cfg.monitor else "max"
    best = RunCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor=cfg.monitor,
        mode=mode,
        save_top_k=min(1, config.output.save_top_k),
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    last = LastCheckpoint(
        dirpath=run.checkpoints,
        save_top_k=0,
        save_last=True,
        every_n_train_steps=cfg.checkpoint_every_n_steps or None,
        enable_version_counter=False,
        stop=StopRequest(),  # SIGTERM/SIGINT: stop at the next step with a checkpoint
    )
    callbacks: list[L.Callback] = [
        EpochMetricsWriter(run.metrics, run.curves if config.output.plots else None, metrics),
        EpochPositionRecorder(),
        SigtermCheckpoint(run.last_checkpoint),
        DataWaitTimer(),
        best,
        last,
    ]
    if cfg.patience > 0:
        # checked after validation: a run capped by train.max_steps mid-epoch has none
        callbacks.append(
            EarlyStopping(
                monitor=cfg.monitor,
                mode=mode,
                patience=cfg.patience,
                check_on_train_epoch_end=cfg.monitor.startswith("train/"),
            )
        )
    if cfg.ema_decay > 0:
        from lightning.pytorch.callbacks import WeightAveraging
        from torch.optim.swa_utils import get_ema_multi_avg_fn

        callbacks.append(WeightAveraging(multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay)))
    if progress:
        callbacks.extend([RichProgressBar(leave=True), ParameterSummary()])
    callbacks.extend(extra_callbacks or [])
    logger = build_loggers(config.output, run.root) or False
    try:
        return L.Trainer(
            default_root_dir=run.root,
            accelerator=cfg.accelerator,
            devices=_devices(cfg.devices),
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            precision=_precision(cfg.precision, cfg.accelerator),  # type: ignore[arg-type]
            max_epochs=cfg.epochs,
            max_steps=cfg.max_steps,
            gradient_clip_val=cfg.grad_clip or None,
            accumulate_grad_batches=cfg.accumulate,
            deterministic=cfg.deterministic,
            sync_batchnorm=cfg.sync_batchnorm,
            use_distributed_sampler=False,
            num_sanity_val_steps=0,
            log_every_n_steps=cfg.log_every_n_steps,
            enable_progress_bar=progress,
            enable_model_summary=progress,
            callbacks=callbacks,
            logger=logger,
            plugins=[AtomicCheckpointIO()],
        )
    except (MisconfigurationException, TypeError, ValueError) as exc:
        # what this machine cannot run: no GPU, devices or a strategy it lacks
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"config keys 'train.accelerator'={cfg.accelerator!r}, 'train.devices'="
            f"{cfg.devices!r}, 'train.strategy'={cfg.strategy!r}: {reason}"
        ) from exc


def check_cluster(num_nodes: int) -> None:
    """:class:`ConfigError` when ``train.num_nodes`` > 1 but this process was not started by a
    multi-node launcher on that many nodes (SLURM's ``srun``, ``torchrun``, MPI, LSF, or
    ``MASTER_ADDR`` with ``NODE_RANK``, which Kubeflow also sets): the run would wait forever for
    nodes that never come."""
    if num_nodes <= 1:
        return
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        MPIEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    env = os.environ
    if SLURMEnvironment.detect():
        nodes = int(env.get("SLURM_NNODES", env.get("SLURM_JOB_NUM_NODES", "1")) or 1)
        if nodes >= num_nodes:
            return
        raise ConfigError(
            f"config key 'train.num_nodes'={num_nodes}: this SLURM job has {nodes} node(s); "
            f"submit it with sbatch --nodes={num_nodes} (and srun)"
        )
    if TorchElasticEnvironment.detect():
        nodes = int(env.get("WORLD_SIZE", "1")) // max(1, int(env.get("LOCAL_WORLD_SIZE", "1")))
        if nodes >= num_nodes:
            return
        raise ConfigError(
            f"config key 'train.num_nodes'={num_nodes}: torchrun started {nodes} node(s); "
            f"pass torchrun --nnodes={num_nodes}"
        )
    launched = (
        MPIEnvironment.detect()
        or LSFEnvironment.detect()
        or ("MASTER_ADDR" in env and "NODE_RANK" in env)  # Lightning's general cluster setup
    )
    if not launched:
        raise ConfigError(
            f"config key 'train.num_nodes'={num_nodes}: this process was not started on "
            f"{num_nodes} nodes (no srun, torchrun --nnodes, MPI or MASTER_ADDR/NODE_RANK "
            "environment), so it would wait forever for the others; launch it on every node "
            "or set train.num_nodes=1"
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


def _initial_weights(config: Config, init_from: str | Path | None) -> str | None:
    if init_from is None:
        return config.model.pretrained
    source = Path(init_from)
    weights = source / "model.safetensors" if source.is_dir() else source
    if not weights.is_file():
        raise RunError(f"--init-from {source}: no model.safetensors (has that run finished?)")
    _warn_if_normalization_differs(config, RunPaths(weights.parent))
    return str(weights)


def _warn_if_normalization_differs(config: Config, source: RunPaths) -> None:
    """Weights learned on inputs normalized one way fine-tune badly on inputs normalized
    another way: warn when the source run's augment.mean/std differ from this run's."""
    if not source.config.is_file():
        return
    theirs = load_config(source.config).augment
    ours = config.augment
    if (theirs.mean, theirs.std) != (ours.mean, ours.std):
        warnings.warn(
            f"--init-from {source.root} was trained with augment.mean/std {theirs.mean}/"
            f"{theirs.std}; this run uses {ours.mean}/{ours.std}: set augment.mean and "
            "augment.std to the source run's",
            stacklevel=3,
        )


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


def _devices(devices: str) -> int | str | list[int]:
    text = devices.strip()
    if text == "auto" or text == "-1":
        return text if text == "auto" else -1
    if "," in text:
        return [int(d) for d in text.split(",") if d.strip()]
    return int(text)


def _precision(precision: str, accelerator: str) -> str:
    if precision != "auto":
        return "32-true" if precision == "32" else precision
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"
