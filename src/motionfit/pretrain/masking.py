"""Tube masking (VideoMAE): one random spatial mask per clip, repeated over every tubelet.

Hand-written: transformers' VideoMAE takes ``bool_masked_pos`` but ships no mask generator.
"""

from __future__ import annotations

import torch


def masked_patches_per_frame(patches_per_frame: int, ratio: float) -> int:
    """Spatial patches masked in every tubelet slot: ``round(ratio * patches_per_frame)``,
    kept in ``[1, patches_per_frame - 1]`` so the encoder always sees at least one patch."""
    return min(max(round(ratio * patches_per_frame), 1), patches_per_frame - 1)


def tube_mask(
    batch_size: int,
    grid: tuple[int, int, int],
    ratio: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``bool_masked_pos`` ``[batch_size, t * h * w]`` for a token grid ``(t, h, w)``.

    Each clip draws its own spatial mask of exactly :func:`masked_patches_per_frame` patches
    and masks the same patches in every one of the ``t`` tubelet slots (a "tube"), so every
    clip has the same number of masked tokens (``VideoMAEForPreTraining`` needs that: it
    reshapes the visible tokens of the batch into one tensor). Token order is ``(t, h, w)``,
    the order of VideoMAE's patch embedding.
    """
    slots, height, width = grid
    per_frame = height * width
    masked = masked_patches_per_frame(per_frame, ratio)
    noise = torch.rand(batch_size, per_frame, generator=generator)
    ranks = noise.argsort(dim=1).argsort(dim=1)  # a random permutation of 0..per_frame-1
    spatial = ranks < masked
    return spatial.unsqueeze(1).expand(batch_size, slots, per_frame).reshape(batch_size, -1)
