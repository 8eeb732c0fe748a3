"""Clips <-> VideoMAE patch tokens, in the exact layout of transformers'
``VideoMAEForPreTraining`` loss (tokens in ``(t, h, w)`` order, each token's pixels in
``(tubelet, row, column)`` order with the channels last).

Hand-written: transformers computes this layout inside ``forward`` and exposes no function
for it; the preview needs it to turn predicted tokens back into frames.
"""

from __future__ import annotations

import torch

NORM_PIX_EPS = 1e-6  # the epsilon of transformers' normalized-pixel targets


def patchify(frames: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """``[B, T, C, H, W]`` -> ``[B, L, tubelet * patch * patch, C]``, ``L = T/tubelet *
    H/patch * W/patch``."""
    batch, time, channels, height, width = frames.shape
    grid = frames.reshape(
        batch, time // tubelet, tubelet, channels, height // patch, patch, width // patch, patch
    )
    tokens = grid.permute(0, 1, 4, 6, 2, 5, 7, 3)  # B, t, h, w, tubelet, row, col, C
    return tokens.reshape(batch, -1, tubelet * patch * patch, channels)


def unpatchify(
    patches: torch.Tensor, grid: tuple[int, int, int], tubelet: int, patch: int
) -> torch.Tensor:
    """Inverse of :func:`patchify` for a token grid ``(t, h, w)``: -> ``[B, T, C, H, W]``."""
    batch, _, _, channels = patches.shape
    slots, rows, cols = grid
    tokens = patches.reshape(batch, slots, rows, cols, tubelet, patch, patch, channels)
    frames = tokens.permute(0, 1, 4, 7, 2, 5, 3, 6)  # B, t, tubelet, C, h, row, w, col
    return frames.reshape(batch, slots * tubelet, channels, rows * patch, cols * patch)


def patch_statistics(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token, per-channel mean and (unbiased) std + eps of ``[..., N, C]`` patches: the
    normalization of VideoMAE's normalized-pixel targets."""
    mean = patches.mean(dim=-2, keepdim=True)
    std = patches.var(dim=-2, unbiased=True, keepdim=True).sqrt() + NORM_PIX_EPS
    return mean, std


def reconstruction_targets(
    frames: torch.Tensor, tubelet: int, patch: int, norm_pix: bool
) -> torch.Tensor:
    """What the decoder learns to predict for every token, ``[B, L, tubelet*patch*patch*C]``:
    the pixels of ``frames`` ``[B, T, C, H, W]`` (in [0, 1]), normalized per token and channel
    when ``norm_pix``."""
    patches = patchify(frames, tubelet, patch)
    if norm_pix:
        mean, std = patch_statistics(patches)
        patches = (patches - mean) / std
    return patches.flatten(2)
