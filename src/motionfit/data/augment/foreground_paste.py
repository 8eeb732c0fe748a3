"""Foreground paste (FAME, Ding et al., CVPR 2022): the clip's moving region (the pixels with the
largest frame differences, blurred into a mask covering a fraction ``f`` of the frame) is pasted
onto a still frame of another training video of the batch: the background now belongs to
another clip, while the motion is the clip's own. Unset ``p`` = the model's to decide."""

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


class ForegroundPasteSettings(AugmentSettings):
    """Paste a clip's moving region onto another training video's frame."""

    p: float | None = probability(
        None,
        "Probability a training clip's moving region (from frame differences) is pasted onto "
        "another training video's frame (FAME, Ding et al. CVPR 2022). Unset or null = 0.5 "
        "for models that see appearance, 0 for the motion-only CNNs.",
    )
    strength: tuple[float, float] = Field(
        default=(0.3, 0.5), description="Range of the fraction of the frame kept as foreground."
    )
    _strength_range = unit_range("strength")


@register
class ForegroundPaste(BatchAugmentation[ForegroundPasteSettings]):
    """Foreground paste (see the module docstring)."""

    name = "foreground_paste"
    settings_model = ForegroundPasteSettings
    verdict = Verdict("recommended", "moves the action onto another clip's background (scene bias)")
    needs_appearance = True
    aliases: ClassVar[dict[str, str]] = {
        "foreground_paste": "p",
        "foreground_paste_strength": "strength",
    }
    order = 30

    def __call__(self, batch: BatchState) -> BatchState:
        """The batch with the drawn clips' moving regions on other clips' frames."""
        from motionfit.data.augment._stills import paste_foregrounds

        s = self.settings
        return paste_foregrounds(self.name, batch, s.p or 0.0, s.strength)
