"""Frozen backbones: ``model.freeze: none | backbone | first_N``.

What is frozen is decided by the model's own depth map (:meth:`VideoClassifier.layer_id`):
``backbone`` freezes every parameter below the top (pooler, final head norms and head stay
trainable); ``first_N`` freezes the embeddings and the first N blocks. Frozen parts run in eval
mode even under ``model.train()``: batch norm keeps its running statistics, and dropout and
drop path are off, so a frozen backbone computes exactly the features a cache would hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from motionfit.errors import ConfigError
from motionfit.models.base import VideoClassifier

FREEZE_PATTERN = r"^(none|backbone|first_\d+)$"


@dataclass(frozen=True)
class TrainableCount:
    """Trainable and total parameter counts of a model."""

    trainable: int
    total: int

    def summary(self) -> str:
        """One line for people, e.g. ``trainable parameters: 1,234 of 5,678 (21.7%)``."""
        share = 100 * self.trainable / max(self.total, 1)
        return f"trainable parameters: {self.trainable:,} of {self.total:,} ({share:.1f}%)"


def freeze_depth(model: VideoClassifier, mode: str) -> int:
    """The deepest ``layer_id`` ``mode`` freezes (-1: none)."""
    if not re.match(FREEZE_PATTERN, mode):
        raise ConfigError(f"config key 'model.freeze': {mode!r} is not none, backbone or first_N")
    if mode == "none":
        return -1
    if mode == "backbone":
        return model.num_layers
    blocks = int(mode.removeprefix("first_"))
    if not 0 < blocks <= model.num_layers:
        raise ConfigError(
            f"config key 'model.freeze': {mode} needs 1 <= N <= {model.num_layers} "
            f"(the model's blocks)"
        )
    return blocks


def freeze_model(model: VideoClassifier, mode: str) -> TrainableCount:
    """Freeze the part of ``model`` that ``mode`` names (in place) and count what still trains."""
    depth = freeze_depth(model, mode)
    for name, param in model.named_parameters():
        if model.layer_id(name) <= depth:
            param.requires_grad_(False)
    roots: list[str] = []
    for name, module in model.named_modules():
        params = list(module.parameters())
        inside = any(name.startswith(root + ".") for root in roots)
        if name and params and not inside and not any(p.requires_grad for p in params):
            roots.append(name)  # the largest fully frozen submodules
            module.register_forward_pre_hook(_keep_eval_mode)
    return count_trainable(model)


def count_trainable(model: nn.Module) -> TrainableCount:
    """Trainable and total parameters of ``model``."""
    params = list(model.parameters())
    return TrainableCount(
        trainable=sum(p.numel() for p in params if p.requires_grad),
        total=sum(p.numel() for p in params),
    )


def _keep_eval_mode(module: nn.Module, args: tuple) -> None:
    # Hand-written: torch has no switch that keeps part of a model in eval mode under .train().
    # A frozen part computes what it computes at inference (the features a cache holds):
    # batch norm uses, and does not update, its running statistics; no dropout, no drop path.
    for child in module.modules():
        child.training = False
