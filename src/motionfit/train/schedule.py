"""Learning-rate schedules stepped per optimizer step: linear warmup, then cosine, step or
constant."""

from __future__ import annotations

import bisect
import math

import torch

from motionfit.config import ScheduleConfig


def lr_factor(step: int, cfg: ScheduleConfig, steps_per_epoch: int, total_steps: int) -> float:
    """Multiplier of the peak LR at optimizer step ``step`` (0-based)."""
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        start = cfg.warmup_start_factor
        return start + (1.0 - start) * step / warmup
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "step":
        milestones = sorted(round(epoch * steps_per_epoch) for epoch in cfg.milestones)
        return cfg.gamma ** bisect.bisect_right(milestones, step)
    decay_steps = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    floor = cfg.min_lr_ratio
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying :func:`lr_factor` to every parameter group (each group keeps
    its own layer-decay scale, since LambdaLR multiplies the group's initial LR)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg, steps_per_epoch, total_steps)
    )
