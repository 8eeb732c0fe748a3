"""Still mix (StillMix, Li et al., ICCV 2023): a still frame of *another* training video of the
batch is blended into every frame, ``x'_t = (1 - w) x_t + w s``, label unchanged: the other
video's appearance becomes noise that the label does not follow, while its still frame adds no
motion. Unset ``p`` = the model's to decide (on for a model that sees appearance)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from motionfit.data.augment.base import (
    AugmentSettings,
    BatchAugmentation,
    Verdict,
    probability,
    unit_range,
)
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from motionfit.data.augment.base import BatchState


class StillMixSettings(AugmentSettings):
    """Blend a still frame of another training video into every frame."""

    p: float | None = probability(
        None,
        "Probability a training clip gets a still frame of another training video blended "
        "into every frame (StillMix, Li et al. ICCV 2023); label unchanged. Unset or null = "
        "0.5 for models that see appearance, 0 for the motion-only CNNs.",
    )
    strength: tuple[float, float] = Field(
        default=(0.3, 0.6), description="Range of the other video's still frame's blend weight."
    )
    _strength_range = unit_range("strength")


@register
class StillMix(BatchAugmentation[StillMixSettings]):
    """Still mix (see the module docstring)."""

    name = "still_mix"
    settings_model = StillMixSettings
    verdict = Verdict(
        "recommended", "makes the look of a clip noise its label does not follow (static bias)"
    )
    needs_appearance = True
    aliases: ClassVar[dict[str, str]] = {"still_mix": "p", "still_mix_strength": "strength"}
    order = 20

    def __call__(self, batch: BatchState) -> BatchState:
        """The batch with the drawn clips blended with another clip's still frame."""
        from motionfit.data.augment._stills import blend_stills

        s = self.settings
        return blend_stills(self.name, batch, s.p or 0.0, s.strength, own_frame=False)
