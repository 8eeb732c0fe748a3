"""Colour jitter of a whole clip: one brightness, contrast, saturation and hue draw for every
frame (torchvision ``v2.ColorJitter``), applied with probability ``p``."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, field_validator

from motionfit.data.augment.base import (
    AugmentSettings,
    ClipSpatialAugmentation,
    Verdict,
    probability,
)
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from torchvision.transforms import v2
from motionfit.errors import ConfigError


class ColorJitterSettings(AugmentSettings):
    """Colour jitter per clip."""

    p: float = probability(0.0, "Probability of colour jitter per clip.")
    strength: tuple[float, float, float, float] = Field(
        default=(0.4, 0.4, 0.4, 0.1), description="Brightness, contrast, saturation, hue of jitter."
    )

    @field_validator("strength")
    @classmethod
    def _jitter_strength(
        cls, value: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        if min(value) < 0.0 or value[3] > 0.5:
            raise ValueError("must be >= 0 (brightness, contrast, saturation) and hue in 0..0.5")
        return value


@register
class ColorJitter(ClipSpatialAugmentation[ColorJitterSettings]):
    """Colour jitter (see the module docstring)."""

    name = "color_jitter"
    settings_model = ColorJitterSettings
    verdict = Verdict("allowed", "changes the look of a clip, never its motion")
    needs_appearance = True
    aliases: ClassVar[dict[str, str]] = {"color_jitter": "p", "color_jitter_strength": "strength"}
    order = 10

    def transform(self) -> v2.Transform:
        """``RandomApply(ColorJitter(*strength), p)``."""
        from torchvision.transforms import v2

        settings = self.settings
        assert isinstance(settings, ColorJitterSettings)
        try:
            jitter = v2.ColorJitter(*settings.strength)
        except ValueError as exc:
            raise ConfigError(f"config key 'augment.color_jitter.strength': {exc}") from exc
        return v2.RandomApply([jitter], settings.p)
