"""Resizing learned position tables to a new clip length or input size.

A checkpoint trained at T frames and size S has position tables sized for its token grid; a
model built for T' frames and size S' needs them resampled. These helpers do the resampling
with ``torch.nn.functional.interpolate`` (linear, bilinear or trilinear) and
``align_corners=True``: the first and last positions of the old table land on the first and last
positions of the new one, so a table that is linear in position stays exactly linear, and the
zero offset of a relative table stays at its centre.

Every table is channels-last: positions first, features in the last dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resize_grid(table: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resample a ``[*grid, C]`` table (a 1-, 2- or 3-D grid of positions) to ``[*size, C]``.

    Identity when the grid already has that size.
    """
    size = tuple(int(s) for s in size)
    grid = tuple(table.shape[:-1])
    if len(grid) != len(size) or len(grid) not in _MODES:
        raise ValueError(f"cannot resize a {len(grid)}-D grid {grid} to {size}")
    if grid == size:
        return table
    channels_first = table.movedim(-1, 0).unsqueeze(0).float()  # [1, C, *grid]
    resized = F.interpolate(channels_first, size=size, mode=_MODES[len(grid)], align_corners=True)
    return resized.squeeze(0).movedim(0, -1).to(table.dtype)


def resize_table(table: torch.Tensor, length: int) -> torch.Tensor:
    """Resample a ``[L, C]`` table of 1-D positions (e.g. temporal, or a relative-distance
    table of ``2 * tokens - 1`` entries) to ``[length, C]``."""
    return resize_grid(table, (length,))


def resize_flat_grid(
    tokens: torch.Tensor,
    grid: Sequence[int],
    new_grid: Sequence[int],
    num_prefix_tokens: int = 0,
) -> torch.Tensor:
    """Resample a flattened position table ``[..., P + prod(grid), C]`` to ``new_grid``.

    ``grid`` is the token grid in row-major order (e.g. ``(T, H, W)`` or ``(H, W)``); the first
    ``num_prefix_tokens`` rows (a CLS token's position) are kept as they are. Leading dimensions
    (e.g. a batch dimension of 1) are preserved.
    """
    grid = tuple(int(g) for g in grid)
    new_grid = tuple(int(g) for g in new_grid)
    count = num_prefix_tokens + _prod(grid)
    if tokens.shape[-2] != count:
        raise ValueError(
            f"table has {tokens.shape[-2]} positions, expected {num_prefix_tokens} + grid {grid}"
        )
    if grid == new_grid:
        return tokens
    lead, channels = tokens.shape[:-2], tokens.shape[-1]
    flat = tokens.reshape(-1, count, channels)
    prefix, body = flat[:, :num_prefix_tokens], flat[:, num_prefix_tokens:]
    resized = torch.stack([resize_grid(b.reshape(*grid, channels), new_grid) for b in body])
    resized = resized.reshape(flat.shape[0], _prod(new_grid), channels)
    return torch.cat([prefix, resized], dim=1).reshape(*lead, -1, channels)


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out
