"""Reconstruction previews: what the masked autoencoder sees and what it fills in.

``RUN_DIR/previews/epoch_NNN.png`` (and ``RUN_DIR/preview.png``, the latest) show, for a few
fixed held-out clips under a fixed tube mask, three rows of frames: the original, the masked
input (hidden patches grey), and the reconstruction (visible patches from the original, hidden
ones predicted by the decoder, un-normalized with the original patch's mean and std when the
model predicts normalized pixels, as VideoMAE's own visualization does: each hidden patch's
average colour then comes from the original, and only the structure inside it from the model).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from motionfit.atomic import atomic_write_bytes
from motionfit.data.transforms import VideoNormalize
from motionfit.pretrain.masking import tube_mask
from motionfit.pretrain.model import VideoMAEPretrainer
from motionfit.pretrain.patches import patch_statistics, patchify, unpatchify

if TYPE_CHECKING:
    from motionfit.pretrain.task import MaskedVideoTask

MASK_GREY = 0.5
MAX_COLUMNS = 8  # frames shown per clip


@dataclass
class Reconstruction:
    """Float frames in [0, 1], each ``[N, T, C, H, W]``."""

    original: torch.Tensor
    masked: torch.Tensor
    reconstructed: torch.Tensor


@torch.no_grad()
def reconstruct(
    model: VideoMAEPretrainer,
    video: torch.Tensor,
    normalize: VideoNormalize,
    mask_ratio: float,
    generator: torch.Generator,
) -> Reconstruction:
    """Mask uint8 clips ``[N, C, T, H, W]`` with a tube mask from ``generator`` and rebuild them
    from the model's predicted tokens (the model runs in eval mode, then returns to its mode)."""
    config = model.config
    tubelet, patch = config.tubelet_size, model.patch_size
    mask = tube_mask(video.shape[0], model.grid, mask_ratio, generator).to(video.device)
    was_training = model.training
    model.eval()
    _, logits = model.reconstruct_tokens(normalize(video), mask)
    model.train(was_training)
    frames = video.permute(0, 2, 1, 3, 4).float() / 255.0
    patches = patchify(frames, tubelet, patch)  # [N, L, P, C]
    count, _, pixels, channels = patches.shape
    predicted = logits.float().reshape(count, -1, pixels, channels)
    if config.norm_pix_loss:
        mean, std = patch_statistics(patches[mask].reshape(count, -1, pixels, channels))
        predicted = predicted * std + mean
    rebuilt, hidden = patches.clone(), patches.clone()
    rebuilt[mask] = predicted.reshape(-1, pixels, channels)
    hidden[mask] = MASK_GREY
    return Reconstruction(
        original=frames,
        masked=unpatchify(hidden, model.grid, tubelet, patch),
        reconstructed=unpatchify(rebuilt, model.grid, tubelet, patch).clamp(0.0, 1.0),
    )


def render_preview(result: Reconstruction, title: str = "") -> bytes:
    """PNG bytes: per clip, rows original / masked / reconstructed, up to 8 frames each."""
    count, frames = result.original.shape[:2]
    columns = np.unique(np.linspace(0, frames - 1, min(frames, MAX_COLUMNS)).round().astype(int))
    rows = [
        (name, clip)
        for index in range(count)
        for name, clip in (
            ("original", result.original[index]),
            ("masked", result.masked[index]),
            ("reconstructed", result.reconstructed[index]),
        )
    ]
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(1.2 * len(columns) + 0.6, 1.2 * len(rows) + 0.4), dpi=100
    )
    axes = np.asarray(axes).reshape(len(rows), len(columns))
    for row, (name, clip) in enumerate(rows):
        for col, frame in enumerate(columns):
            ax = axes[row, col]
            ax.imshow(clip[frame].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, fontsize=7)
            if row == 0:
                ax.set_title(f"frame {frame}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


class ReconstructionPreview(L.Callback):
    """Write ``previews/epoch_NNN.png`` and ``preview.png`` every ``every`` epochs (rank 0), for
    the data module's preview clips under one fixed mask, so epochs are comparable."""

    def __init__(self, run_root: Path, every: int, clips: int = 2, seed: int = 0) -> None:
        self.run_root = Path(run_root)
        self.every = every
        self.clips = clips
        self.seed = seed
        self._video: torch.Tensor | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Render the preview of the epoch that just ended."""
        epoch = trainer.current_epoch
        if not trainer.is_global_zero or self.every < 1 or (epoch + 1) % self.every:
            return
        task = cast("MaskedVideoTask", pl_module)
        if self._video is None:
            datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning's fit
            self._video = datamodule.preview_clips(self.clips)
        result = reconstruct(
            task.model,
            self._video.to(task.device),
            task.normalize,
            task.config.pretrain.mask_ratio,
            torch.Generator().manual_seed(self.seed),
        )
        loss = trainer.callback_metrics.get("val/loss", trainer.callback_metrics.get("train/loss"))
        title = f"epoch {epoch + 1}" + (f", loss {float(loss):.3f}" if loss is not None else "")
        png = render_preview(result, title)
        atomic_write_bytes(self.run_root / "previews" / f"epoch_{epoch + 1:03d}.png", png)
        atomic_write_bytes(self.run_root / "preview.png", png)
