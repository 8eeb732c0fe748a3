"""The mixing behind ``augment.mix``: video-level MixUp and CutMix of a training batch, one
lambda per pair of clips, and for CutMix one box shared by every frame of the clip (frame-level
CutMix kept for ablations).
"""

# Hand-written: torchvision's v2 MixUp/CutMix draw from the global RNG and use one lambda per
# batch; we need per-pair lambdas drawn from a given generator.

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as nnf

MixMode = Literal["none", "mixup", "cutmix", "frame_cutmix"]


@dataclass(frozen=True)
class MixResult:
    """A mixed batch: ``videos`` float ``[B, C, T, H, W]``, soft ``targets`` ``[B, K]``, the
    ``mode`` used, each clip's ``partner`` index (int64 ``[B]``) and ``lam`` (float ``[B]``),
    the share of each clip's own content (for CutMix, corrected to the pasted area)."""

    videos: torch.Tensor
    targets: torch.Tensor
    mode: MixMode
    partner: torch.Tensor
    lam: torch.Tensor


class VideoMixer:
    """Mixes clip ``i`` with clip ``B-1-i`` of a batch (odd batches leave the middle clip alone).

    With probability ``prob`` a batch is mixed; it then uses CutMix with probability
    ``switch_prob`` when both alphas are > 0 (an alpha of 0 turns that kind off). Lambdas come
    from Beta(alpha, alpha), one per pair. ``frame_cutmix`` (guarded: harmful) draws a new box
    in every frame instead of one box per clip. Targets are not label-smoothed here.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        frame_cutmix: bool = False,
    ) -> None:
        if num_classes < 1 or mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError("num_classes must be >= 1 and the alphas >= 0")
        self.num_classes = num_classes
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.prob = prob
        self.switch_prob = switch_prob
        self.frame_cutmix = frame_cutmix

    @property
    def enabled(self) -> bool:
        """Whether any batch can be mixed."""
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def __call__(
        self, videos: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """float ``[B, C, T, H, W]`` clips and int64 ``[B]`` labels -> (mixed clips, soft
        targets ``[B, K]``)."""
        result = self.mix(videos, labels, generator)
        return result.videos, result.targets

    def mix(
        self, videos: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> MixResult:
        """Mix a batch and report how (see :class:`MixResult`); ``labels`` are int64 ``[B]``
        or soft targets ``[B, K]``."""
        batch = videos.shape[0]
        if videos.ndim != 5 or labels.shape not in ((batch,), (batch, self.num_classes)):
            raise ValueError(
                f"expected videos [B, C, T, H, W] and labels [B] or [B, {self.num_classes}], "
                f"got {tuple(videos.shape)} and {tuple(labels.shape)}"
            )
        own = (
            nnf.one_hot(labels.long(), self.num_classes).to(torch.float32)
            if labels.ndim == 1
            else labels.to(torch.float32)
        )
        partner = torch.arange(batch - 1, -1, -1)
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
        if not self.enabled or rng.random() >= self.prob:
            return MixResult(videos, own, "none", partner, torch.ones(batch))
        use_cutmix = self.cutmix_alpha > 0 and (
            self.mixup_alpha <= 0 or rng.random() < self.switch_prob
        )
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        pairs = batch // 2
        pair_lams = rng.beta(alpha, alpha, size=pairs)
        if not use_cutmix:
            mode: MixMode = "mixup"
            lam = _per_clip(pair_lams, batch)
            weight = lam.to(videos.device, videos.dtype).view(-1, 1, 1, 1, 1)
            mixed = weight * videos + (1 - weight) * videos[partner]
        else:
            mode = "frame_cutmix" if self.frame_cutmix else "cutmix"
            mixed, pasted = _paste_boxes(videos, pair_lams, rng, per_frame=self.frame_cutmix)
            lam = _per_clip(1.0 - pasted, batch)
        share = lam[:, None].to(own.device)
        targets = share * own + (1 - share) * own[partner]
        return MixResult(mixed, targets, mode, partner, lam)


def _per_clip(pair_values: np.ndarray, batch: int) -> torch.Tensor:
    """Pair values -> one value per clip (both clips of pair ``i`` get value ``i``; a middle
    clip of an odd batch, mixed with itself, gets 1)."""
    values = torch.ones(batch, dtype=torch.float32)
    pairs = torch.as_tensor(pair_values, dtype=torch.float32)
    values[: len(pairs)] = pairs
    values[batch - len(pairs) :] = pairs.flip(0)
    return values


def _paste_boxes(
    videos: torch.Tensor, pair_lams: np.ndarray, rng: np.random.Generator, per_frame: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """Swap a box between the two clips of each pair: one box for all frames, or a new box per
    frame. Returns the mixed clips and each pair's pasted fraction of the clip."""
    batch, _, frames, height, width = videos.shape
    mixed = videos.clone()
    pasted = np.zeros(len(pair_lams))
    for i, lam in enumerate(pair_lams):
        j = batch - 1 - i
        for t in range(frames) if per_frame else [slice(None)]:
            top, bottom, left, right = _random_box(height, width, lam, rng)
            region = (slice(None), t, slice(top, bottom), slice(left, right))
            mixed[i][region] = videos[j][region]
            mixed[j][region] = videos[i][region]
            pasted[i] += (bottom - top) * (right - left) / (height * width)
        if per_frame:
            pasted[i] /= frames
    return mixed, pasted


def _random_box(
    height: int, width: int, lam: float, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """A box of about ``1 - lam`` of the frame around a random centre, clipped to the frame."""
    cut = np.sqrt(1.0 - lam)
    box_h, box_w = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = max(cy - box_h // 2, 0), min(cy + box_h - box_h // 2, height)
    left, right = max(cx - box_w // 2, 0), min(cx + box_w - box_w // 2, width)
    return top, bottom, left, right
