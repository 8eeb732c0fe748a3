"""Gaussian blur of a whole clip with a random sigma (torchvision ``v2.GaussianBlur``). Mild
blur is allowed; heavy blur (sigma above 1.5) is guarded: it erases fine motion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from motionfit.data.augment.base import AugmentSettings, ClipSpatialAugmentation, Verdict
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from torchvision.transforms import v2

HEAVY_BLUR_SIGMA = 1.5


class BlurSettings(AugmentSettings):
    """Gaussian blur per clip."""

    sigma: float = Field(
        default=0.0,
        ge=0.0,
        description="Max Gaussian blur sigma, 0 = off (guarded above 1.5: heavy blur).",
    )


@register
class Blur(ClipSpatialAugmentation[BlurSettings]):
    """Gaussian blur (see the module docstring)."""

    name = "blur"
    settings_model = BlurSettings
    verdict = Verdict(
        "allowed", f"mild blur keeps motion; above sigma {HEAVY_BLUR_SIGMA:g} it does not"
    )
    aliases: ClassVar[dict[str, str]] = {"blur_sigma": "sigma"}
    order = 60

    @classmethod
    def is_on(cls, settings: BlurSettings) -> bool:
        """On when ``sigma`` > 0."""
        return settings.sigma > 0

    @classmethod
    def turned_off(cls) -> dict[str, Any]:
        """``sigma = 0``."""
        return {"sigma": 0.0}

    @classmethod
    def guard(cls, settings: BlurSettings) -> tuple[str, str] | None:
        """Heavy blur smears the small moving things."""
        sigma = settings.sigma
        if sigma <= HEAVY_BLUR_SIGMA:
            return None
        return "sigma", (
            f"blur with sigma up to {sigma:g} (> {HEAVY_BLUR_SIGMA:g}) smears hands and small "
            "objects, erasing the fine motion cues that separate similar actions"
        )

    def transform(self) -> v2.Transform:
        """``GaussianBlur`` with a kernel of 3 sigma each side, sigma drawn up to ``sigma``."""
        from torchvision.transforms import v2

        sigma = self.settings.sigma
        kernel = 2 * int(3 * sigma + 0.5) + 1
        return v2.GaussianBlur(kernel, sigma=(min(0.1, sigma), sigma))
