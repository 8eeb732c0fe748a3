"""The pretraining LightningModule: tube-mask the clips, reconstruct the masked tubes."""

from __future__ import annotations

import torch
from torchmetrics import MeanMetric

from motionfit.config import Config
from motionfit.pretrain.masking import tube_mask
from motionfit.pretrain.model import VideoMAEPretrainer
from motionfit.train.task import (
    SteppedVideoTask,
    derived_seed,
    flatten_repeats,
    persistent_metric,
)

VAL_MASK_STREAM = 7  # seed stream of the validation masks (fixed across epochs)


class MaskedVideoTask(SteppedVideoTask):
    """Masked video modeling (VideoMAE) with the training task's step machinery.

    Per step: uint8 clips -> normalized float on the device -> a tube mask of
    ``pretrain.mask_ratio`` per clip (seeded from ``(seed, global step, rank)``, so resume is
    exact) -> ``VideoMAEForPreTraining``'s loss: MSE on the masked tokens' (normalized)
    pixels. Validation uses masks seeded by batch index only, so ``val/loss`` compares epochs
    on the same masked tokens.
    """

    model: VideoMAEPretrainer

    def __init__(self, config: Config, model: VideoMAEPretrainer) -> None:
        super().__init__(config, model)
        self.train_loss = MeanMetric()
        persistent_metric(self.train_loss)
        self.val_loss = MeanMetric()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """One optimization step on the reconstruction loss."""
        video, _ = flatten_repeats(batch["video"], batch["label"])
        generator = torch.Generator().manual_seed(self._step_seed(1))
        loss = self.reconstruction_loss(video, generator)
        self._stop_if_diverged(loss)
        self.train_loss(loss.detach())
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, logger=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        """Reconstruction loss of held-out clips under fixed masks. Unreadable videos are
        left out of the batch (a batch of only those is None)."""
        if batch["video"] is None:
            return
        video = batch["video"].flatten(0, 1)  # [B, V, C, T, H, W] views -> clips
        seed = derived_seed(self.config.train.seed, batch_idx, self.global_rank, VAL_MASK_STREAM)
        generator = torch.Generator().manual_seed(seed)
        self.val_loss(self.reconstruction_loss(video, generator))
        self.log("val/loss", self.val_loss, prog_bar=True)

    def reconstruction_loss(self, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 ``[B, C, T, H, W]`` clips -> the masked-token reconstruction loss."""
        mask = tube_mask(
            video.shape[0], self.model.grid, self.config.pretrain.mask_ratio, generator
        )
        loss, _ = self.model.reconstruct_tokens(self.normalize(video), mask.to(video.device))
        return loss
