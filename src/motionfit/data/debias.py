"""Debiasing augmentations: make the look of a clip (background, scene, colour) useless to the
model, so that only its motion predicts the label.

Three augmentations from the literature on static and scene bias, each clip-consistent (one
set of parameters for every frame of a clip) and label-preserving:

- ``static_blend`` (Background Erasing, Wang et al., CVPR 2021): a frame of the clip itself is
  blended into every frame, ``x'_t = (1 - w) x_t + w x_k``. Motion is kept, the static content
  is doubled, so a feature that reads the static content gains nothing from it.
- ``still_mix`` (StillMix, Li et al., ICCV 2023): a still frame of *another* training video is
  blended into every frame, ``x'_t = (1 - w) x_t + w s``, label unchanged: the other video's
  appearance becomes noise that the label does not follow, while its still frame adds no motion.
- ``foreground_paste`` (FAME, Ding et al., CVPR 2022): the clip's moving region (the pixels
  with the largest frame differences, blurred into a mask covering a fraction ``f`` of the
  frame) is pasted onto a still frame of another training video: the background now belongs
  to another clip, while the motion is the clip's own.

They run on the training batch (normalized float ``[B, C, T, H, W]``, on the training device)
before MixUp/CutMix: the partner videos are already in the batch, so nothing is decoded twice
(done in the loader, still mix and foreground paste would each need a second video decoded per
clip). Every draw of clip ``i`` (whether it is augmented, its weight, its frame, its partner)
comes from ``numpy.random.default_rng([seed, epoch, index_i, repeat, stream])``, so a clip's
augmentation is deterministic per (seed, epoch, sample) whatever the batch order or device.
"""

# Hand-written: no maintained library implements these video debiasing augmentations.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as nnf
from torchvision.transforms.v2 import functional as F

from motionfit.config import AugmentConfig

DEBIAS_KINDS = ("static_blend", "still_mix", "foreground_paste")
MASK_SIZE = 56  # frames larger than 2x this get their motion mask computed downscaled
_STREAM = 0x5D1A5  # separates these draws from the loader's and the mixer's


@dataclass
class DebiasResult:
    """The augmented clips and, per kind, which clips of the batch got it (bool ``[B]``)."""

    videos: torch.Tensor
    applied: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class _Draw:
    """One clip's parameters for one kind: weight (or foreground fraction), position of the
    still frame in its clip (0-1), and the clip it comes from (the clip itself for
    ``static_blend``)."""

    strength: float
    frame_position: float
    partner: int


class DebiasAugment:
    """The configured debiasing augmentations of a training batch (see the module docstring).

    Applied in the order static blend, still mix, foreground paste; each clip draws each kind
    independently with its probability.
    """

    def __init__(
        self,
        static_blend: float = 0.0,
        static_blend_strength: tuple[float, float] = (0.2, 0.5),
        still_mix: float = 0.0,
        still_mix_strength: tuple[float, float] = (0.3, 0.6),
        foreground_paste: float = 0.0,
        foreground_paste_strength: tuple[float, float] = (0.3, 0.5),
    ) -> None:
        self.probs = {
            "static_blend": static_blend,
            "still_mix": still_mix,
            "foreground_paste": foreground_paste,
        }
        self.strengths = {
            "static_blend": static_blend_strength,
            "still_mix": still_mix_strength,
            "foreground_paste": foreground_paste_strength,
        }
        for kind in DEBIAS_KINDS:
            low, high = self.strengths[kind]
            if not 0.0 <= self.probs[kind] <= 1.0 or not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"{kind}: probability and strength range must lie in [0, 1]")

    @classmethod
    def from_config(cls, cfg: AugmentConfig) -> DebiasAugment:
        """The augmentations of ``augment.*`` (all off when ``augment.enabled`` is false)."""
        scale = 1.0 if cfg.enabled else 0.0
        return cls(
            static_blend=cfg.debias_probability("static_blend") * scale,
            static_blend_strength=cfg.static_blend_strength,
            still_mix=cfg.debias_probability("still_mix") * scale,
            still_mix_strength=cfg.still_mix_strength,
            foreground_paste=cfg.debias_probability("foreground_paste") * scale,
            foreground_paste_strength=cfg.foreground_paste_strength,
        )

    @property
    def enabled(self) -> bool:
        """Whether any clip can be augmented."""
        return any(p > 0 for p in self.probs.values())

    def __call__(self, videos: torch.Tensor, keys: Sequence[Sequence[int]]) -> DebiasResult:
        """Augment float ``[B, C, T, H, W]`` clips; ``keys[i]`` seeds clip ``i``'s draws (e.g.
        ``(seed, epoch, dataset index, repeat)``). Returns new clips; the input is unchanged."""
        if videos.ndim != 5 or len(keys) != videos.shape[0]:
            raise ValueError(
                f"expected clips [B, C, T, H, W] and one key per clip, got "
                f"{tuple(videos.shape)} and {len(keys)} keys"
            )
        applied = {kind: torch.zeros(videos.shape[0], dtype=torch.bool) for kind in DEBIAS_KINDS}
        if not self.enabled:
            return DebiasResult(videos, applied)
        out = videos.clone()
        rngs = [np.random.default_rng([*map(int, key), _STREAM]) for key in keys]
        for kind in DEBIAS_KINDS:
            draws = [self._draw(kind, rng, videos.shape[0], i) for i, rng in enumerate(rngs)]
            if any(draw is not None for draw in draws):
                applied[kind] = torch.tensor([draw is not None for draw in draws])
                out = self._apply(kind, out, videos, draws)
        return DebiasResult(out, applied)

    def _draw(self, kind: str, rng: np.random.Generator, batch: int, i: int) -> _Draw | None:
        """Clip ``i``'s parameters for ``kind`` (None = not augmented). The same number of
        values is drawn whatever the outcome, so one kind's draws never shift another's."""
        hit = rng.random() < self.probs[kind]
        low, high = self.strengths[kind]
        strength = float(rng.uniform(low, high))
        frame_position = float(rng.random())
        other = int(rng.integers(batch - 1)) if batch > 1 else 0
        partner = i if kind == "static_blend" else (other + (other >= i) if batch > 1 else -1)
        if not hit or partner < 0:
            return None
        return _Draw(strength, frame_position, partner)

    @staticmethod
    def _apply(
        kind: str, clips: torch.Tensor, sources: torch.Tensor, draws: list[_Draw | None]
    ) -> torch.Tensor:
        """``clips`` ``[B, C, T, H, W]`` with one augmentation applied to the clips whose draw is
        not None, clip ``i``'s still frame taken from ``sources[draws[i].partner]`` (the batch
        as it came in). Whole-batch operations (weight 0 / a full mask leave a clip as it is):
        no gather and scatter of the augmented clips."""
        batch, _, frames = clips.shape[:3]
        partners = [d.partner if d is not None else i for i, d in enumerate(draws)]
        positions = [min(int(d.frame_position * frames), frames - 1) if d else 0 for d in draws]
        device = clips.device
        index = torch.tensor(partners, device=device), torch.tensor(positions, device=device)
        stills = sources[index[0], :, index[1]]
        stills = stills.to(device).unsqueeze(2).expand_as(clips)  # [B, C, T, H, W], one frame
        strengths = torch.tensor([d.strength if d else 0.0 for d in draws], dtype=clips.dtype)
        strengths = strengths.to(device)
        if kind in ("static_blend", "still_mix"):
            return clips.lerp_(stills, strengths.view(batch, 1, 1, 1, 1))
        keep = moving_region(clips, strengths)
        keep |= torch.tensor([d is None for d in draws], device=device).view(batch, 1, 1, 1, 1)
        return torch.where(keep, clips, stills)


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
