"""Motion-reliance diagnostics: does a model read the motion of a clip, or its look?

Every evaluation view is scored three more times, from the frames already decoded:

- ``frozen``: one frame of the view (its middle one) repeated for the clip's length: the
  appearance is all there, the motion is gone;
- ``shuffled``: the view's frames in a random order (seeded per video): appearance kept,
  time order destroyed;
- ``reversed``: the view played backwards: the same frames and motion energy, the time
  order (and so every direction of motion) reversed.

For each, ``top1`` is the accuracy of the altered videos and ``agreement`` the share of videos
whose prediction equals the normal view's (both fractions). A model that reads motion keeps
few predictions on frozen clips (agreement near chance, 1/classes); a model that reads the
background keeps most of them. On data with time-reversed class pairs (left/right,
grow/shrink), a model that reads the direction of motion changes its prediction on reversed
clips (low ``reversed`` agreement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

DIAGNOSTICS = ("frozen", "shuffled", "reversed")
APPEARANCE_AGREEMENT = 0.5  # frozen clips keep at least this share: appearance decides
MOTION_MARGIN = 0.15  # frozen agreement within this of chance: motion decides
_STREAM = 0xD1A6


def diagnostic_views(
    video: torch.Tensor, keys: Sequence[int], seed: int = 0
) -> dict[str, torch.Tensor]:
    """The frozen, shuffled and reversed versions of uint8 views ``[B, V, C, T, H, W]``
    (``keys[b]``, e.g. the dataset index, seeds video ``b``'s shuffle). Each has the input's
    shape; frozen and reversed are views of the input where torch allows (no copy)."""
    if video.ndim != 6 or len(keys) != video.shape[0]:
        raise ValueError(
            f"expected views [B, V, C, T, H, W] and one key per video, got "
            f"{tuple(video.shape)} and {len(keys)} keys"
        )
    frames = video.shape[3]
    middle = frames // 2
    orders = torch.stack([torch.as_tensor(shuffled_order(frames, seed, key)) for key in keys])
    index = orders.to(video.device).view(video.shape[0], 1, 1, frames, 1, 1)
    return {
        "frozen": video[:, :, :, middle : middle + 1].expand_as(video),
        "shuffled": torch.gather(video, 3, index.expand_as(video)),
        "reversed": video.flip(3),
    }


def shuffled_order(frames: int, seed: int, key: int) -> np.ndarray:
    """A random order of ``frames`` frame positions, never the identity when ``frames > 1``
    (deterministic in ``seed`` and ``key``)."""
    rng = np.random.default_rng([seed % 2**63, key % 2**63, _STREAM])
    order = rng.permutation(frames)
    while frames > 1 and np.array_equal(order, np.arange(frames)):
        order = rng.permutation(frames)
    return order


def diagnostic_scores(
    video_probs: torch.Tensor,
    diagnostic_probs: Mapping[str, torch.Tensor],
    targets: torch.Tensor,
) -> dict[str, dict[str, float]]:
    """``{name: {"top1", "agreement"}}`` for each diagnostic (fractions): accuracy of the
    altered videos, and the share of videos predicted as in their normal views."""
    predicted = video_probs.argmax(dim=1)
    out = {}
    for name, probs in diagnostic_probs.items():
        altered = probs.argmax(dim=1)
        out[name] = {
            "top1": float((altered == targets).float().mean()),
            "agreement": float((altered == predicted).float().mean()),
        }
    return out


def reading(diagnostics: Mapping[str, Mapping[str, float]], num_classes: int) -> str:
    """One line saying what the diagnostics mean, led by the frozen agreement."""
    chance = 1.0 / max(1, num_classes)
    frozen = diagnostics["frozen"]["agreement"]
    if frozen >= APPEARANCE_AGREEMENT:
        verdict = "the model relies on appearance"
    elif frozen <= chance + MOTION_MARGIN:
        verdict = "the model reads motion"
    else:
        verdict = "the model uses both motion and appearance"
    rest = ", ".join(
        f"{name} {diagnostics[name]['agreement']:.0%}"
        for name in ("shuffled", "reversed")
        if name in diagnostics
    )
    tail = f" (agreement of {rest})" if rest else ""
    return f"frozen clips keep {frozen:.0%} of predictions (chance {chance:.0%}): {verdict}{tail}"
