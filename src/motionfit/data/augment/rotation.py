"""Random rotation of a whole clip, one angle for every frame (torchvision
``v2.RandomRotation``). Guarded: it turns the direction of motion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from motionfit.data.augment.base import AugmentSettings, ClipSpatialAugmentation, Verdict
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from torchvision.transforms import v2


class RotationSettings(AugmentSettings):
    """Random rotation per clip."""

    degrees: float = Field(
        default=0.0, ge=0.0, description="Max rotation degrees, 0 = off (guarded: harmful)."
    )


@register
class Rotation(ClipSpatialAugmentation[RotationSettings]):
    """Random rotation (see the module docstring)."""

    name = "rotation"
    settings_model = RotationSettings
    verdict = Verdict(
        "avoid",
        "rotating changes the direction of motion (an upward swipe becomes a diagonal one), so "
        "direction-defined classes get confused",
    )
    aliases: ClassVar[dict[str, str]] = {"rotation": "degrees"}
    order = 30

    @classmethod
    def is_on(cls, settings: RotationSettings) -> bool:
        """On when ``degrees`` > 0."""
        return settings.degrees > 0

    @classmethod
    def turned_off(cls) -> dict[str, Any]:
        """``degrees = 0``."""
        return {"degrees": 0.0}

    @classmethod
    def guard(cls, settings: RotationSettings) -> tuple[str, str] | None:
        """The verdict's reason, with the configured degrees."""
        value = settings.degrees
        if value <= 0:
            return None
        return "degrees", (
            f"rotating by up to {value:g} degrees changes the direction of motion "
            "(an upward swipe becomes a diagonal one), so direction-defined classes get confused"
        )

    def transform(self) -> v2.Transform:
        """``RandomRotation(degrees)``, bilinear."""
        from torchvision.transforms import v2

        degrees = self.settings.degrees
        return v2.RandomRotation(degrees, interpolation=v2.InterpolationMode.BILINEAR)
