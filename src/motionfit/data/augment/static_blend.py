"""Static blend (Background Erasing, Wang et al., CVPR 2021): a frame of the clip itself is
blended into every frame, ``x'_t = (1 - w) x_t + w x_k``, label unchanged. Motion is kept, the
static content is doubled, so a feature that reads the static content gains nothing from it."""

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


class StaticBlendSettings(AugmentSettings):
    """Blend a frame of a clip's own video into every frame."""

    p: float = probability(
        0.0,
        "Probability a training clip gets a frame of its own video blended into every frame "
        "(Background Erasing, Wang et al. CVPR 2021); label unchanged.",
    )
    strength: tuple[float, float] = Field(
        default=(0.2, 0.5), description="Range of the static frame's blend weight (0-1)."
    )
    _strength_range = unit_range("strength")


@register
class StaticBlend(BatchAugmentation[StaticBlendSettings]):
    """Static blend (see the module docstring)."""

    name = "static_blend"
    settings_model = StaticBlendSettings
    verdict = Verdict("allowed", "keeps the motion; weakens static appearance")
    needs_appearance = True
    aliases: ClassVar[dict[str, str]] = {"static_blend": "p", "static_blend_strength": "strength"}
    order = 10

    def __call__(self, batch: BatchState) -> BatchState:
        """The batch with the drawn clips blended with one of their own frames."""
        from motionfit.data.augment._stills import blend_stills

        s = self.settings
        return blend_stills(self.name, batch, s.p, s.strength, own_frame=True)
