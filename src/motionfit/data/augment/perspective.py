"""Random perspective distortion of a whole clip (torchvision ``v2.RandomPerspective``, which
distorts half of the clips). Guarded: it warps trajectories and speeds unevenly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from motionfit.data.augment.base import AugmentSettings, ClipSpatialAugmentation, Verdict
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from torchvision.transforms import v2


class PerspectiveSettings(AugmentSettings):
    """Random perspective distortion per clip."""

    distortion: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Perspective distortion scale, 0 = off (guarded: harmful).",
    )


@register
class Perspective(ClipSpatialAugmentation[PerspectiveSettings]):
    """Random perspective (see the module docstring)."""

    name = "perspective"
    settings_model = PerspectiveSettings
    verdict = Verdict(
        "avoid",
        "perspective distortion warps trajectories and speeds unevenly across the frame, so "
        "the same motion looks different by position",
    )
    aliases: ClassVar[dict[str, str]] = {"perspective": "distortion"}
    order = 40

    @classmethod
    def is_on(cls, settings: PerspectiveSettings) -> bool:
        """On when ``distortion`` > 0."""
        return settings.distortion > 0

    @classmethod
    def turned_off(cls) -> dict[str, Any]:
        """``distortion = 0``."""
        return {"distortion": 0.0}

    @classmethod
    def guard(cls, settings: PerspectiveSettings) -> tuple[str, str] | None:
        """The verdict's reason, with the configured distortion."""
        value = settings.distortion
        if value <= 0:
            return None
        return "distortion", (
            f"perspective distortion {value:g} warps trajectories and speeds unevenly "
            "across the frame, so the same motion looks different by position"
        )

    def transform(self) -> v2.Transform:
        """``RandomPerspective(distortion)``."""
        from torchvision.transforms import v2

        return v2.RandomPerspective(self.settings.distortion)
