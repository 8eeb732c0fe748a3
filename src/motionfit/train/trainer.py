"""The Lightning Trainer of a run, built from its config: devices, precision, the checkpoint,
metrics, stop and timing callbacks, loggers and atomic checkpoint IO (``train.strategy=fsdp``:
:mod:`motionfit.train.fsdp`); multi-node launches are checked before anything waits for nodes
that never come."""

from __future__ import annotations

import os
from collections.abc import Mapping

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar

from motionfit.config import Config
from motionfit.errors import ConfigError
from motionfit.run import RunPaths
from motionfit.stopping import StopRequest
from motionfit.train.callbacks import (
    CLASSIFICATION_METRICS,
    AtomicCheckpointIO,
    EpochMetricsWriter,
    EpochPositionRecorder,
    LastCheckpoint,
    RunCheckpoint,
    SigtermCheckpoint,
)
from motionfit.train.fsdp import ShardedGradClip, fsdp_strategy
from motionfit.train.loggers import build_loggers
from motionfit.train.summary import ParameterSummary
from motionfit.train.timing import DataWaitTimer


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
    sharded = cfg.strategy == "fsdp"
    if sharded and cfg.ema_decay > 0:
        raise ConfigError(
            "config key 'train.ema_decay': the weight average is not kept under "
            "train.strategy=fsdp (Lightning's WeightAveraging copies the unsharded model); "
            "set train.ema_decay=0 or train.strategy=ddp"
        )
    precision = _precision(cfg.precision, cfg.accelerator)
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
    if sharded and cfg.grad_clip > 0:
        callbacks.append(ShardedGradClip(cfg.grad_clip))  # Lightning's clipping refuses FSDP
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
            strategy=fsdp_strategy(cfg, precision) if sharded else cfg.strategy,
            precision=precision,  # type: ignore[arg-type]
            max_epochs=cfg.epochs,
            max_steps=cfg.max_steps,
            gradient_clip_val=None if sharded else cfg.grad_clip or None,
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
