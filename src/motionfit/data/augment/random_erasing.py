"""Random erasing of one box of a whole clip, filled with the mean colour (what normalization
maps to 0), after the other spatial transforms (torchvision ``v2.RandomErasing``). Guarded: the
box can hide the action for the whole clip."""

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


class RandomErasingSettings(AugmentSettings):
    """Random erasing per clip."""

    p: float = probability(0.0, "Random erasing probability (guarded: harmful).")


@register
class RandomErasing(ClipSpatialAugmentation[RandomErasingSettings]):
    """Random erasing (see the module docstring)."""

    name = "random_erasing"
    settings_model = RandomErasingSettings
    verdict = Verdict(
        "avoid",
        "random erasing can hide the moving object or hand for the whole clip, leaving a label "
        "with no visible action",
    )
    aliases: ClassVar[dict[str, str]] = {"random_erasing": "p"}
    order = 90
    in_float = False

    @classmethod
    def guard(cls, settings: RandomErasingSettings) -> tuple[str, str] | None:
        """The verdict's reason, with the configured probability."""
        if not cls.is_on(settings):
            return None
        return "p", (
            f"random erasing (p={settings.p:g}) can hide the moving object or hand "
            "for the whole clip, leaving a label with no visible action"
        )

    def transform(self) -> v2.Transform:
        """``RandomErasing(p)`` with the normalization mean as fill (uint8)."""
        from torchvision.transforms import v2

        mean = self.context.augment.normalization()[0]
        return v2.RandomErasing(p=self.settings.p, value=[round(255 * m) for m in mean])
