"""Learning-rate schedules stepped per optimizer step: linear warmup, then cosine, step or
constant."""

from __future__ import annotations

import bisect
import math

import torch

from motionfit.config import Config, ScheduleConfig


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


def replan_note(before: Config, after: Config) -> str | None:
    """What a resume with a longer or shorter plan does to the LR schedule (``None`` when the
    plan is unchanged): the schedule is re-planned over the new length, so a finished run
    resumed with more epochs continues at the LR the new plan has at its step, not at the old
    plan's final minimum."""
    keys = ("epochs", "max_steps")
    changed = [
        f"train.{key} {getattr(before.train, key)} -> {getattr(after.train, key)}"
        for key in keys
        if getattr(before.train, key) != getattr(after.train, key)
    ]
    if before.schedule != after.schedule:
        changed.append("schedule settings")
    if not changed:
        return None
    return (
        f"{', '.join(changed)}: the warmup + {after.schedule.name} LR schedule is re-planned "
        "over the new length; training continues at the LR the new plan has at the current step"
    )
