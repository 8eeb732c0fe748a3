"""The augmentation guard: configured augmentations known to hurt action recognition.

Each augmentation declares its verdict and reason (:mod:`motionfit.data.augment`); the guard
collects them, adds the crop-scale check of the clip itself, and warns or (``augment.strict``)
refuses.

Hand-written: the avoid-list is this project's own policy, no library has it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from motionfit.config import AugmentConfig
from motionfit.data.augment import registered
from motionfit.errors import ConfigError

MIN_SAFE_CROP_SCALE = 0.5


class AugmentationWarning(UserWarning):
    """A configured augmentation that is likely to hurt action recognition."""


@dataclass(frozen=True)
class GuardFinding:
    """One guarded augmentation: its config ``key`` and ``reason`` it hurts (one sentence)."""

    key: str
    reason: str


def check_augmentations(cfg: AugmentConfig) -> list[GuardFinding]:
    """The guarded augmentations that ``cfg`` turns on, each with why it hurts: every
    registered augmentation's own guard (its verdict; :mod:`motionfit.data.augment`), then the
    clip's crop scale."""
    findings = [
        GuardFinding(f"augment.{name}.{verdict[0]}", verdict[1])
        for name, augmentation in registered().items()
        if (verdict := augmentation.guard(cfg.settings(name))) is not None
    ]
    if cfg.scale[0] < MIN_SAFE_CROP_SCALE:
        findings.append(
            GuardFinding(
                "augment.scale",
                f"crops as small as {cfg.scale[0]:g} of the frame area "
                f"(< {MIN_SAFE_CROP_SCALE:g}) often cut the actor or the moving object out of "
                "the clip",
            )
        )
    return findings


def enforce_guard(cfg: AugmentConfig) -> list[GuardFinding]:
    """Warn (:class:`AugmentationWarning`) once per guarded augmentation in ``cfg``; with
    ``cfg.strict`` raise :class:`~motionfit.errors.ConfigError` for the first one instead."""
    findings = check_augmentations(cfg)
    if cfg.strict and findings:
        first = findings[0]
        raise ConfigError(
            f"config key '{first.key}' is a guarded augmentation (augment.strict is on): "
            f"{first.reason}"
        )
    for finding in findings:
        warnings.warn(
            f"config key '{finding.key}': {finding.reason} "
            "(set augment.strict=true to make this an error)",
            AugmentationWarning,
            stacklevel=2,
        )
    return findings
