"""Random grayscale of a whole clip (torchvision ``v2.RandomGrayscale``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from motionfit.data.augment.base import (
    AugmentSettings,
    ClipSpatialAugmentation,
    Verdict,
    probability,
)
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from torchvision.transforms import v2


class GrayscaleSettings(AugmentSettings):
    """Random grayscale per clip."""

    p: float = probability(0.0, "Random grayscale probability.")


@register
class Grayscale(ClipSpatialAugmentation[GrayscaleSettings]):
    """Random grayscale (see the module docstring)."""

    name = "grayscale"
    settings_model = GrayscaleSettings
    verdict = Verdict("allowed", "removes colour, never motion")
    needs_appearance = True
    aliases: ClassVar[dict[str, str]] = {"grayscale": "p"}
    order = 20

    def transform(self) -> v2.Transform:
        """``RandomGrayscale(p)``."""
        from torchvision.transforms import v2

        return v2.RandomGrayscale(self.settings.p)
