"""The augmentation guard: configured augmentations known to hurt action recognition.

Hand-written: the avoid-list is this project's own policy, no library has it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from motionfit.config import AugmentConfig
from motionfit.errors import ConfigError

HEAVY_BLUR_SIGMA = 1.5
MIN_SAFE_CROP_SCALE = 0.5


class AugmentationWarning(UserWarning):
    """A configured augmentation that is likely to hurt action recognition."""


@dataclass(frozen=True)
class GuardFinding:
    """One guarded augmentation: its config ``key`` and ``reason`` it hurts (one sentence)."""

    key: str
    reason: str


def check_augmentations(cfg: AugmentConfig) -> list[GuardFinding]:
    """The guarded augmentations that ``cfg`` turns on, each with why it hurts."""
    checks = [
        (
            cfg.rotation > 0,
            "augment.rotation",
            f"rotating by up to {cfg.rotation:g} degrees changes the direction of motion "
            "(an upward swipe becomes a diagonal one), so direction-defined classes get confused",
        ),
        (
            cfg.perspective > 0,
            "augment.perspective",
            f"perspective distortion {cfg.perspective:g} warps trajectories and speeds "
            "unevenly across the frame, so the same motion looks different by position",
        ),
        (
            cfg.elastic > 0,
            "augment.elastic",
            f"elastic deformation (alpha {cfg.elastic:g}) adds local displacements that look "
            "like motion and bends the real trajectories of limbs and objects",
        ),
        (
            cfg.blur_sigma > HEAVY_BLUR_SIGMA,
            "augment.blur_sigma",
            f"blur with sigma up to {cfg.blur_sigma:g} (> {HEAVY_BLUR_SIGMA:g}) smears hands "
            "and small objects, erasing the fine motion cues that separate similar actions",
        ),
        (
            cfg.random_erasing > 0,
            "augment.random_erasing",
            f"random erasing (p={cfg.random_erasing:g}) can hide the moving object or hand "
            "for the whole clip, leaving a label with no visible action",
        ),
        (
            cfg.frame_cutmix,
            "augment.frame_cutmix",
            "frame-level CutMix pastes a box at a different place in each frame, so the pasted "
            "content jumps around and the motion of both clips is destroyed",
        ),
        (
            cfg.scale[0] < MIN_SAFE_CROP_SCALE,
            "augment.scale",
            f"crops as small as {cfg.scale[0]:g} of the frame area (< {MIN_SAFE_CROP_SCALE:g}) "
            "often cut the actor or the moving object out of the clip",
        ),
    ]
    return [GuardFinding(key, reason) for flagged, key, reason in checks if flagged]


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
