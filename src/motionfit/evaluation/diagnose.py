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

The agreements only say something about a model whose normal predictions carry what it
learned: :func:`caveat` names the two cases where they cannot (a model at chance, a model that
answers one class for most videos), and :func:`reading` then says so instead of a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

DIAGNOSTICS = ("frozen", "shuffled", "reversed")
APPEARANCE_AGREEMENT = 0.5  # frozen clips keep at least this share: appearance decides
MOTION_MARGIN = 0.15  # frozen agreement within this of chance: motion decides
# A model whose normal top-1 is within this of chance has learned nothing the agreements could
# test; the margin is at least 2 standard errors of a chance-level top-1 on the test set (see
# chance_margin).
CHANCE_MARGIN = 0.1
# One class taking this share of the normal predictions makes any altered view that gets that
# class "agree" this often whatever the model reads: above APPEARANCE_AGREEMENT by itself.
ONE_CLASS_SHARE = 0.8
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


def chance_margin(num_classes: int, num_videos: int) -> float:
    """How far above chance (1/classes) a normal top-1 must be for the diagnostics to be read:
    ``max(CHANCE_MARGIN, 2 standard errors)``. A model guessing at chance scores a top-1 of
    ``Binomial(n, 1/K) / n``, standard error ``sqrt(p (1 - p) / n)``: within 2 of them (about a
    one-sided 98% bound) the model is indistinguishable from guessing on this test set; the
    fixed floor keeps a barely-above-chance model on a large test set, whose predictions are
    still mostly noise, from being read."""
    chance = 1.0 / max(1, num_classes)
    return max(CHANCE_MARGIN, 2 * math.sqrt(chance * (1 - chance) / max(1, num_videos)))


def caveat(predicted: torch.Tensor, targets: torch.Tensor, num_classes: int) -> str | None:
    """Why the diagnostics of a model whose normal views predict ``predicted`` (class ids, one
    per video with truth ``targets``) cannot be read, or None when they can: one class takes at
    least ``ONE_CLASS_SHARE`` of the predictions, or the top-1 is within
    :func:`chance_margin` of chance."""
    videos = len(predicted)
    if videos == 0 or num_classes < 2:
        return "no videos or classes to compare"
    share = float(torch.bincount(predicted, minlength=num_classes).max()) / videos
    top1 = float((predicted == targets).float().mean())
    chance, margin = 1.0 / num_classes, chance_margin(num_classes, videos)
    if share >= ONE_CLASS_SHARE:
        return (
            f"the model predicts one class for {share:.0%} of the {videos} videos, so any "
            "altered clip agrees with it that often whatever it reads"
        )
    if top1 <= chance + margin:
        return (
            f"the model is at chance on these {videos} videos (top-1 {top1:.0%}, chance "
            f"{chance:.0%}; reading needs above {chance + margin:.0%}), so its predictions "
            "carry nothing learned to test"
        )
    return None


def reading(
    diagnostics: Mapping[str, Mapping[str, float]],
    num_classes: int,
    predicted: torch.Tensor,
    targets: torch.Tensor,
) -> str:
    """One line saying what the diagnostics mean, led by the frozen agreement; "not
    meaningful" and why (:func:`caveat`) when the normal predictions ``predicted`` (truth
    ``targets``) leave nothing to read."""
    chance = 1.0 / max(1, num_classes)
    frozen = diagnostics["frozen"]["agreement"]
    kept = f"frozen clips keep {frozen:.0%} of predictions (chance {chance:.0%})"
    why = caveat(predicted, targets, num_classes)
    if why is not None:
        return f"{kept}: diagnostics NOT MEANINGFUL: {why}"
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
    return f"{kept}: {verdict}{tail}"
