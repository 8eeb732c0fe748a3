"""``pretrain``: one function from a config to a finished pretraining run directory.

The run directory has the layout of a training run (see :mod:`motionfit.run`): config.yaml,
split/, checkpoints/{last,best}.ckpt, metrics.csv (epoch, step, train_loss, val_loss,
data_wait, lr), curves.png, tb/, bad_files.tsv (unreadable videos met, if any), plus
``previews/epoch_NNN.png`` and ``preview.png``, and no labels.txt.
``model.safetensors`` holds the ``VideoMAEForPreTraining`` weights (transformers' names) of the
best checkpoint, with its ``config.json`` beside it; ``motionfit train --init-from RUN_DIR``
starts a classifier's encoder from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L

from motionfit.config import Config
from motionfit.errors import ConfigError
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.registry import IMAGENET_MEAN, IMAGENET_STD
from motionfit.output_dir import releases_output_locks
from motionfit.pretrain.data import UnlabeledDataModule
from motionfit.pretrain.model import VideoMAEPretrainer, build_pretrainer, check_pretrainable
from motionfit.pretrain.preview import ReconstructionPreview
from motionfit.pretrain.task import MaskedVideoTask
from motionfit.run import RunPaths
from motionfit.train.runner import RunData, RunTemplate, best_score, run_template
from motionfit.train.timing import DATA_WAIT_METRIC

PRETRAIN_METRICS = {
    "train_loss": "train/loss",
    "val_loss": "val/loss",
    "data_wait": DATA_WAIT_METRIC,  # share of step time waiting for data (train/timing.py)
}
HF_CONFIG_FILE = "config.json"


@dataclass
class PretrainResult:
    """What a finished ``pretrain`` call produced."""

    run: RunPaths
    monitor: str
    best_score: float | None
    epochs: int
    steps: int


@releases_output_locks  # the run folder's lock ends with the call
def pretrain(
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    callbacks: list[L.Callback] | None = None,
    force: bool = False,
) -> PretrainResult:
    """Pretrain ``config.model.name`` (a VideoMAE model) on the videos of ``config.data.source``
    by masked video modeling; with ``resume``, continue the run in ``out`` from ``last.ckpt``.

    The output folder follows the rules of :func:`motionfit.train.fit.train` (nothing is
    written before the data, settings and model are checked). Validation (``val/loss``) runs
    on ``pretrain.val_fraction`` of the videos (or ``data.val``); ``train.monitor`` must be
    ``val/loss`` or ``train/loss``.
    """
    config = resolve_model_defaults(config)  # the model's normalization
    _check_config(config)
    template = PretrainRun()
    done = run_template(
        template, config, out, resume=resume, force=force, progress=progress, callbacks=callbacks
    )
    return PretrainResult(
        run=done.run,
        monitor=done.config.train.monitor,
        best_score=best_score(done.trainer),
        epochs=done.trainer.current_epoch,
        steps=done.trainer.global_step,
    )


class PretrainRun(RunTemplate):
    """``motionfit pretrain``: unlabeled videos, ``VideoMAEForPreTraining``, the masked video
    task, reconstruction previews; the HF config saved beside the exported weights."""

    command = "pretrain"
    metrics = PRETRAIN_METRICS
    activity = "pretraining"

    def __init__(self) -> None:
        self.model: VideoMAEPretrainer | None = None

    def data(self, config: Config, run: RunPaths, resume: bool) -> RunData:
        """The videos' data module (strides resolved); val/loss needs held-out videos."""
        datamodule = UnlabeledDataModule.for_run(config, run, resume)
        if config.train.monitor == "val/loss" and not datamodule.val_records:
            raise ConfigError(
                "config key 'train.monitor': val/loss needs held-out videos; set "
                "pretrain.val_fraction > 0 or data.val, or monitor train/loss"
            )
        return RunData(datamodule.config, datamodule, len(datamodule.train_records))

    def task(self, config: Config, data: RunData) -> L.LightningModule:
        """The pretraining model in the masked video task."""
        self.model = build_pretrainer(
            config.model.name,
            num_frames=config.sampling.num_frames,
            image_size=config.augment.crop_size,
            norm_pix_loss=config.pretrain.norm_pix_loss,
            decoder_depth=config.pretrain.decoder_depth,
        )
        return MaskedVideoTask(config, self.model)

    def callbacks(self, config: Config, run: RunPaths) -> list[L.Callback]:
        """The reconstruction previews."""
        every = config.pretrain.preview_every
        return [ReconstructionPreview(run.root, every, seed=config.train.seed)]

    def finished(self, run: RunPaths, config: Config) -> None:
        """The HF config beside the weights (``train --init-from`` reads it)."""
        if self.model is not None:
            self.model.config.to_json_file(run.root / HF_CONFIG_FILE)


def _check_config(config: Config) -> None:
    check_pretrainable(config.model.name, config.sampling.num_frames, config.augment.crop_size)
    normalization = (config.augment.mean, config.augment.std)
    if not config.pretrain.norm_pix_loss and normalization != (IMAGENET_MEAN, IMAGENET_STD):
        raise ConfigError(
            "config keys 'augment.mean'/'augment.std': without pretrain.norm_pix_loss, "
            "VideoMAEForPreTraining un-normalizes its pixel targets with the ImageNet mean/std "
            f"{IMAGENET_MEAN}/{IMAGENET_STD}; use those"
        )
