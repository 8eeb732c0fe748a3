"""What the three debiasing augmentations share (static blend, still mix, foreground paste):
per-clip draws of a still frame of a clip of the batch, and blending or pasting it.

They run on the training batch (normalized float ``[B, C, T, H, W]``, on the training device)
before MixUp/CutMix: the partner videos are already in the batch, so nothing is decoded twice.
Every draw of clip ``i`` (whether it is augmented, its weight, its frame, its partner) comes
from ``numpy.random.default_rng([*key_i, stream, crc32(name)])``, so a clip's augmentation is
deterministic per (seed, epoch, sample) whatever the batch order or device, and one
augmentation's draws never shift another's.
"""

# Hand-written: no maintained library implements these video debiasing augmentations.

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf
from torchvision.transforms.v2 import functional as F

from motionfit.data.augment.base import BatchState

MASK_SIZE = 56  # frames larger than 2x this get their motion mask computed downscaled
_STREAM = 0x5D1A5  # separates these draws from the loader's and the mixer's


@dataclass(frozen=True)
class StillDraw:
    """One clip's parameters: weight (or foreground fraction), position of the still frame in
    its clip (0-1), and the clip it comes from (the clip itself for ``own_frame``)."""

    strength: float
    frame_position: float
    partner: int


def draw_stills(
    name: str,
    keys: Sequence[Sequence[int]],
    p: float,
    strength: tuple[float, float],
    own_frame: bool,
) -> list[StillDraw | None]:
    """Each clip's draw (None = not augmented). The same number of values is drawn whatever
    the outcome."""
    batch = len(keys)
    draws: list[StillDraw | None] = []
    for i, key in enumerate(keys):
        rng = np.random.default_rng([*map(int, key), _STREAM, zlib.crc32(name.encode())])
        hit = rng.random() < p
        value = float(rng.uniform(*strength))
        frame_position = float(rng.random())
        other = int(rng.integers(batch - 1)) if batch > 1 else 0
        partner = i if own_frame else (other + (other >= i) if batch > 1 else -1)
        draws.append(StillDraw(value, frame_position, partner) if hit and partner >= 0 else None)
    return draws


def stills_and_strengths(
    clips: torch.Tensor, draws: list[StillDraw | None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each clip's still frame expanded over its frames ``[B, C, T, H, W]`` (from its partner
    in ``clips``) and its strength ``[B]`` (0 for a clip not augmented)."""
    frames = clips.shape[2]
    partners = [d.partner if d is not None else i for i, d in enumerate(draws)]
    positions = [min(int(d.frame_position * frames), frames - 1) if d else 0 for d in draws]
    device = clips.device
    stills = clips[torch.tensor(partners, device=device), :, torch.tensor(positions, device=device)]
    stills = stills.unsqueeze(2).expand_as(clips)
    strengths = torch.tensor([d.strength if d else 0.0 for d in draws], dtype=clips.dtype)
    return stills, strengths.to(device)


def blend_stills(
    name: str, batch: BatchState, p: float, strength: tuple[float, float], own_frame: bool
) -> BatchState:
    """``x'_t = (1 - w) x_t + w s`` for the clips drawn (weight 0 leaves a clip as it is: one
    whole-batch operation, no gather and scatter)."""
    draws = draw_stills(name, batch.keys, p, strength, own_frame)
    applied = torch.tensor([d is not None for d in draws])
    if not applied.any():
        return _with(batch, name, batch.videos, applied)
    stills, weights = stills_and_strengths(batch.videos, draws)
    mixed = batch.videos.lerp(stills, weights.view(-1, 1, 1, 1, 1))
    return _with(batch, name, mixed, applied)


def paste_foregrounds(
    name: str, batch: BatchState, p: float, strength: tuple[float, float]
) -> BatchState:
    """Each drawn clip's moving region kept, the rest replaced by another clip's still frame."""
    draws = draw_stills(name, batch.keys, p, strength, own_frame=False)
    applied = torch.tensor([d is not None for d in draws])
    if not applied.any():
        return _with(batch, name, batch.videos, applied)
    clips = batch.videos
    stills, fractions = stills_and_strengths(clips, draws)
    keep = moving_region(clips, fractions)
    keep |= (~applied).to(clips.device).view(-1, 1, 1, 1, 1)
    return _with(batch, name, torch.where(keep, clips, stills), applied)


def _with(batch: BatchState, name: str, videos: torch.Tensor, applied: torch.Tensor) -> BatchState:
    return BatchState(
        videos, batch.targets, batch.keys, batch.generator, {**batch.applied, name: applied}
    )


def moving_region(clips: torch.Tensor, fractions: torch.Tensor | float) -> torch.Tensor:
    """bool ``[N, 1, 1, H, W]`` masks of the ``fractions`` (one per clip, or one for all) of
    pixels that move most in float clips ``[N, C, T, H, W]``: mean absolute difference of
    consecutive grayscale frames, blurred with a Gaussian (kernel ~ a tenth of the frame, as FAME
    does) so a mask covers whole objects, then thresholded at the clip's ``1 - fraction``
    quantile. A static clip gives an empty mask."""
    count, _, frames, height, width = clips.shape
    fractions = torch.as_tensor(fractions, dtype=torch.float32).expand(count)
    if frames < 2:
        return torch.zeros(count, 1, 1, height, width, dtype=torch.bool, device=clips.device)
    gray = clips.mean(dim=1)  # [N, T, H, W]: one channel, a third of the work
    motion = (gray[:, 1:] - gray[:, :-1]).abs().mean(dim=1, keepdim=True)  # [N, 1, H, W]
    factor = max(1, min(height, width) // MASK_SIZE)  # masks are coarse: blur at <= ~2x56 px
    if factor > 1:
        motion = nnf.avg_pool2d(motion, factor, ceil_mode=True)
    kernel = max(3, int(0.1 * min(motion.shape[-2:])) // 2 * 2 + 1)
    motion = F.gaussian_blur(motion, [kernel, kernel])
    if factor > 1:
        motion = nnf.interpolate(motion, scale_factor=factor, mode="nearest")
    motion = motion[..., :height, :width].flatten(1)  # [N, H*W]
    ranked = motion.sort(dim=1, descending=True).values
    kept = (fractions * motion.shape[1]).long().clamp(1, motion.shape[1]).to(motion.device)
    threshold = ranked.gather(1, kept[:, None] - 1)  # the kept-th largest motion per clip
    masks = (motion >= threshold) & (motion > 0) & (fractions[:, None].to(motion.device) > 0)
    return masks.view(count, 1, 1, height, width)
