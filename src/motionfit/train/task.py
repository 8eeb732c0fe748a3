"""The LightningModules: the step machinery shared by every task, and supervised
classification (normalize on the device, mix, classify, smooth the loss, measure).

The Trainer owns the loop, devices, DDP and checkpoints; this module holds only the step
logic, the metrics and the optimizer/schedule construction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TypeVar, cast

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy

from motionfit.config import Config
from motionfit.data.augment import BatchAugmentation, BatchState, build_stage
from motionfit.data.transforms import VideoNormalize
from motionfit.errors import RunError
from motionfit.evaluation.multi_label import MeanAveragePrecision
from motionfit.models.base import VideoClassifier
from motionfit.train.multi_label import multi_label_loss, probability_bce
from motionfit.train.optim import LayeredModel, build_optimizer, scaled_lr
from motionfit.train.schedule import build_scheduler

VAL, CLEAN_TRAIN = 0, 1  # validation dataloader indices

MetricT = TypeVar("MetricT", bound=Metric)


class TrainingDivergedError(RunError):
    """The loss became NaN or infinite; the run stops (its last checkpoint, if any, is kept)."""


class SteppedVideoTask(L.LightningModule):
    """What every motionfit task shares (supervised training and pretraining).

    Every random choice of a step is seeded from ``(seed, global step, rank)`` (torch's global
    generator at the start of the step, and :meth:`_step_seed` streams), so a resumed run
    repeats an uninterrupted one exactly (the loader's position in the epoch is recorded by
    :class:`~motionfit.train.callbacks.EpochPositionRecorder`). After each batch throughput and
    LR are logged; a non-finite loss stops the run. The optimizer is AdamW/SGD over
    ``model``'s parameter groups (the model provides ``no_weight_decay``, ``layer_id`` and
    ``num_layers``) with the per-step schedule.
    """

    def __init__(self, config: Config, model: torch.nn.Module) -> None:
        super().__init__()
        self.config = config
        self.model = model
        self.normalize = VideoNormalize.from_config(config.augment)
        self._step_started = 0.0

    def on_train_epoch_start(self) -> None:
        """Clear the running training metrics at the start of a new epoch. They are kept in
        checkpoints for exact mid-epoch resume, so a checkpoint taken at an epoch's end still
        holds that epoch's totals (Lightning resets them after the checkpoint); a run resumed
        from it must not count them into the next epoch."""
        progress = self.trainer.fit_loop.epoch_loop.batch_progress
        if progress.current.completed == 0 or progress.is_last_batch:
            for metric in self.modules():
                if isinstance(metric, Metric) and any(metric._persistent.values()):
                    metric.reset()

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        """Seed this step's randomness from (seed, global step, rank)."""
        torch.manual_seed(self._step_seed(0))
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs: object, batch: dict, batch_idx: int) -> None:
        """Log the throughput and the LR."""
        elapsed = time.perf_counter() - self._step_started
        video = batch["video"]
        clips = video.shape[0] * (video.shape[1] if video.ndim == 6 else 1)
        clips *= self.trainer.world_size
        self.log("clips/s", clips / max(elapsed, 1e-9), on_step=True, prog_bar=True, logger=False)
        peak_lr = max(group["lr"] for group in self.trainer.optimizers[0].param_groups)
        self.log("lr", peak_lr, on_step=True, logger=True)

    def _stop_if_diverged(self, loss: torch.Tensor) -> None:
        finite = torch.isfinite(loss.detach()).float()
        if self.trainer.world_size > 1:
            finite = cast(torch.Tensor, self.all_gather(finite)).min()  # a tensor from a tensor
        if finite.item() < 1.0:
            raise TrainingDivergedError(
                f"the loss became {loss.item()} at step {self.global_step} (epoch "
                f"{self.current_epoch}) and the run stopped. Lower optim.lr, raise "
                "schedule.warmup_epochs or set train.grad_clip"
            )

    def _step_seed(self, stream: int) -> int:
        return derived_seed(self.config.train.seed, self.global_step, self.global_rank, stream)

    def global_batch(self) -> int:
        """Clips per optimizer step over all devices: ``train.batch_size`` x devices x
        ``train.accumulate``."""
        cfg = self.config.train
        return cfg.batch_size * self.trainer.world_size * cfg.accumulate

    def peak_lr(self) -> float:
        """The peak LR the optimizer is built with: ``optim.lr``, scaled to the global batch
        when ``optim.base_batch_size`` is set."""
        return scaled_lr(self.config.optim, self.global_batch())

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW/SGD param groups and the per-step warmup + decay schedule.

        The schedule's length comes from the data module, not from
        ``trainer.estimated_stepping_batches``: that loads the train loader before a resumed
        run's checkpoint is restored, and Lightning then never gives the loader its saved
        position in the epoch.
        """
        trainer = self.trainer
        cfg = self.config.train
        if not isinstance(self.model, LayeredModel):
            raise TypeError(f"{type(self.model).__name__} does not describe its layers")
        optimizer = build_optimizer(self.model, self.config.optim, self.peak_lr())
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning in fit
        batches = datamodule.train_batches_per_epoch(trainer.world_size)
        steps_per_epoch = max(1, math.ceil(batches / cfg.accumulate))
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps > 0:
            total_steps = min(total_steps, cfg.max_steps)
        scheduler = build_scheduler(optimizer, self.config.schedule, steps_per_epoch, total_steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class VideoClassificationTask(SteppedVideoTask):
    """Supervised video classification with the seed's regularization.

    Per step: uint8 clips -> normalized float (on the device) -> the registered batch
    augmentations the config turns on (:mod:`motionfit.data.augment`: debiasing, then
    video-level MixUp/CutMix, with soft targets) -> model -> cross-entropy with label smoothing
    on the soft targets. ``class_names`` (label order) serve augmentations with label maps.
    With ``data.multi_label`` the targets are multi-hot, the loss the smoothed sigmoid BCE
    (:mod:`motionfit.train.multi_label`), and validation reports mAP (``val/map`` macro,
    ``val/map_micro``, ``clean_train/map``) instead of accuracy; training accuracy is not
    logged (a multi-hot, mixed target has no single right answer).
    Every random choice of a step (mixing, dropout, drop path) is seeded from ``(seed, global
    step, rank)``, so a resumed run repeats an uninterrupted one exactly.
    """

    def __init__(
        self,
        config: Config,
        model: VideoClassifier,
        num_classes: int,
        class_names: Sequence[str] = (),
    ) -> None:
        super().__init__(config, model)
        self.num_classes = num_classes
        stage = build_stage(config.augment, "batch", tuple(class_names))
        self.batch_augments = [step for step in stage if isinstance(step, BatchAugmentation)]
        self.register_buffer("class_weight", None, persistent=False)  # set in setup()
        self.multi_label = config.data.multi_label
        self.train_loss = persistent_metric(MeanMetric())
        self.val_loss = MeanMetric()
        if self.multi_label:
            self.val_map = MeanAveragePrecision("macro")
            self.val_map_micro = MeanAveragePrecision("micro")
            self.clean_map = MeanAveragePrecision("macro")
            return
        top_k = min(5, num_classes)
        self.train_acc = persistent_metric(MulticlassAccuracy(num_classes, average="micro"))
        self.val_top1 = MulticlassAccuracy(num_classes, average="micro")
        self.val_top5 = MulticlassAccuracy(num_classes, top_k=top_k, average="micro")
        self.clean_top1 = MulticlassAccuracy(num_classes, average="micro")

    def setup(self, stage: str) -> None:
        """The loss's class weights from the training data (``train.class_weights``)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "loss_weights"):
            self.class_weight = datamodule.loss_weights()

    # -- training ---------------------------------------------------------------------------

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """One optimization step on a (possibly mixed) batch."""
        generator = torch.Generator().manual_seed(self._step_seed(1))
        loss, logits, targets = self.compute_loss(batch, generator)
        self._stop_if_diverged(loss)
        self.train_loss(loss.detach())
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        if not self.multi_label:
            self.train_acc(logits.detach(), targets.argmax(dim=1))
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, logger=True)
        return loss

    def compute_loss(
        self, batch: dict, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalize, mix (soft targets), classify, and take the label-smoothed cross-entropy.

        Returns ``(loss, logits, targets)``; ``targets`` are the mixed soft targets before
        smoothing (their argmax is the dominant label, used for training accuracy). Multi-label
        batches carry multi-hot float targets ``[B, K]`` already.
        """
        video, labels = flatten_repeats(batch["video"], batch["label"])
        if self.multi_label:
            targets = labels.to(torch.float32)
        else:
            targets = F.one_hot(labels.long(), self.num_classes).to(torch.float32)
        state = BatchState(self.normalize(video), targets, self._clip_keys(batch), generator)
        for step in self.batch_augments:
            state = step(state)
        targets = state.targets.to(state.videos.device)
        logits = self.model(state.videos)
        return self.classification_loss(logits, targets), logits, targets

    def classification_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``logits`` against soft ``targets``, with the class weights and
        ``train.label_smoothing`` (multi-label: the sigmoid BCE, the weights as ``pos_weight``)."""
        if self.multi_label:
            return multi_label_loss(
                logits, targets, self.config.train.label_smoothing, self.class_weight
            )
        return F.cross_entropy(
            logits,
            targets,
            weight=self.class_weight,
            label_smoothing=self.config.train.label_smoothing,
        )

    def _clip_keys(self, batch: dict) -> list[tuple[int, ...]]:
        """(seed, epoch, dataset index, repeat) of every clip of the (flattened) batch: batch
        augmentations draw per clip from it. A batch built by hand, without dataset indices,
        keys its clips by position."""
        repeats = batch["video"].shape[1] if batch["video"].ndim == 6 else 1
        seed, epoch = self.config.train.seed % 2**63, self.current_epoch
        indices = batch.get("index", torch.arange(batch["video"].shape[0]))
        return [(seed, epoch, int(index), r) for index in indices.tolist() for r in range(repeats)]

    # -- validation -------------------------------------------------------------------------

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Score videos: softmax averaged over their clips (and crops). Unreadable videos
        are left out of the batch (a batch of only those is None)."""
        if batch["video"] is None:
            return
        probs = self.video_probabilities(batch["video"])
        labels = batch["label"]
        if self.multi_label:
            self._validate_multi_label(probs, labels.long(), dataloader_idx)
        elif dataloader_idx == VAL:
            self.val_loss(F.nll_loss(probs.clamp_min(1e-8).log(), labels))
            self.val_top1(probs, labels)
            self.val_top5(probs, labels)
            self.log("val/loss", self.val_loss, add_dataloader_idx=False, prog_bar=True)
            self.log("val/top1", self.val_top1, add_dataloader_idx=False, prog_bar=True)
            self.log("val/top5", self.val_top5, add_dataloader_idx=False)
        else:
            self.clean_top1(probs, labels)
            self.log("clean_train/top1", self.clean_top1, add_dataloader_idx=False)

    def _validate_multi_label(
        self, probs: torch.Tensor, targets: torch.Tensor, dataloader_idx: int
    ) -> None:
        """Multi-label validation: BCE of the averaged sigmoids, mAP macro and micro."""
        if dataloader_idx == VAL:
            self.val_loss(probability_bce(probs, targets))
            self.val_map(probs, targets)
            self.val_map_micro(probs, targets)
            self.log("val/loss", self.val_loss, add_dataloader_idx=False, prog_bar=True)
            self.log("val/map", self.val_map, add_dataloader_idx=False, prog_bar=True)
            self.log("val/map_micro", self.val_map_micro, add_dataloader_idx=False)
        else:
            self.clean_map(probs, targets)
            self.log("clean_train/map", self.clean_map, add_dataloader_idx=False)

    def video_probabilities(self, video: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, V, C, T, H, W]`` views -> class probabilities ``[B, K]`` (mean over V;
        per-class sigmoids for a multi-label run, else the softmax)."""
        batch, views = video.shape[:2]
        logits = self.model(self.normalize(video.flatten(0, 1)))
        scores = logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)
        return scores.view(batch, views, -1).mean(dim=1)


def derived_seed(*entropy: int) -> int:
    """A seed from integers (numpy's ``SeedSequence``): the same integers give the same seed."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def persistent_metric(metric: MetricT) -> MetricT:
    """Keep a metric's running state in checkpoints (mid-epoch resume is exact)."""
    metric.persistent(True)
    return metric


def flatten_repeats(video: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeated augmentation: ``[B, R, C, T, H, W]`` / ``[B, R]`` (multi-label ``[B, R, K]``)
    -> ``[B*R, ...]`` / ``[B*R]`` (``[B*R, K]``)."""
    if video.ndim == 6:
        return video.flatten(0, 1), labels.flatten(0, 1)
    return video, labels
