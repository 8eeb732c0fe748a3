"""Elastic deformation of a whole clip (torchvision ``v2.ElasticTransform``). Guarded: its
local displacements look like motion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from motionfit.data.augment.base import AugmentSettings, ClipSpatialAugmentation, Verdict
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from torchvision.transforms import v2


class ElasticSettings(AugmentSettings):
    """Elastic deformation per clip."""

    alpha: float = Field(default=0.0, ge=0.0, description="Elastic alpha, 0 = off (guarded).")


@register
class Elastic(ClipSpatialAugmentation[ElasticSettings]):
    """Elastic deformation (see the module docstring)."""

    name = "elastic"
    settings_model = ElasticSettings
    verdict = Verdict(
        "avoid",
        "elastic deformation adds local displacements that look like motion and bends the "
        "real trajectories of limbs and objects",
    )
    aliases: ClassVar[dict[str, str]] = {"elastic": "alpha"}
    order = 50

    @classmethod
    def is_on(cls, settings: ElasticSettings) -> bool:
        """On when ``alpha`` > 0."""
        return settings.alpha > 0

    @classmethod
    def turned_off(cls) -> dict[str, Any]:
        """``alpha = 0``."""
        return {"alpha": 0.0}

    @classmethod
    def guard(cls, settings: ElasticSettings) -> tuple[str, str] | None:
        """The verdict's reason, with the configured alpha."""
        value = settings.alpha
        if value <= 0:
            return None
        return "alpha", (
            f"elastic deformation (alpha {value:g}) adds local displacements that look like "
            "motion and bends the real trajectories of limbs and objects"
        )

    def transform(self) -> v2.Transform:
        """``ElasticTransform(alpha=alpha)``."""
        from torchvision.transforms import v2

        return v2.ElasticTransform(alpha=self.settings.alpha)
