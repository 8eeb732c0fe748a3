"""Video-level MixUp and CutMix of a training batch (``augment.mix``): clip ``i`` mixes with clip
``B-1-i``, one lambda per pair, one CutMix box for every frame of a clip (a new box per frame,
``per_frame``, is kept for ablations and guarded), targets mixed with the same share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from motionfit.data.augment.base import AugmentSettings, BatchAugmentation, Verdict, probability
from motionfit.data.augment.registry import register

if TYPE_CHECKING:
    from motionfit.data.augment.base import BatchState


class MixSettings(AugmentSettings):
    """Video MixUp / CutMix of whole batches."""

    p: float = probability(0.5, "Probability a training batch is mixed.")
    mixup_alpha: float = Field(default=0.8, ge=0.0, description="Video MixUp Beta alpha (0 = off).")
    cutmix_alpha: float = Field(
        default=1.0, ge=0.0, description="Video CutMix Beta alpha (0 = off)."
    )
    switch_prob: float = probability(0.5, "Probability of CutMix rather than MixUp when both on.")
    per_frame: bool = Field(
        default=False, description="CutMix with a new box per frame (guarded: breaks motion)."
    )


@register
class Mix(BatchAugmentation[MixSettings]):
    """MixUp / CutMix (see the module docstring)."""

    name = "mix"
    settings_model = MixSettings
    verdict = Verdict("recommended", "one box or blend for the whole clip keeps both clips' motion")
    aliases: ClassVar[dict[str, str]] = {
        "mix_prob": "p",
        "mixup_alpha": "mixup_alpha",
        "cutmix_alpha": "cutmix_alpha",
        "mix_switch_prob": "switch_prob",
        "frame_cutmix": "per_frame",
    }
    order = 100  # last: it mixes the targets the others leave alone

    @classmethod
    def is_on(cls, settings: MixSettings) -> bool:
        """On when ``p`` > 0 and an alpha > 0."""
        s = settings
        return s.p > 0 and (s.mixup_alpha > 0 or s.cutmix_alpha > 0)

    @classmethod
    def turned_off(cls) -> dict[str, Any]:
        """``p = 0``."""
        return {"p": 0.0}

    @classmethod
    def guard(cls, settings: MixSettings) -> tuple[str, str] | None:
        """A new box per frame destroys motion."""
        if not settings.per_frame:
            return None
        return "per_frame", (
            "frame-level CutMix pastes a box at a different place in each frame, so the pasted "
            "content jumps around and the motion of both clips is destroyed"
        )

    def __call__(self, batch: BatchState) -> BatchState:
        """The batch mixed (or not, with probability ``1 - p``), targets mixed alike."""
        from motionfit.data.augment._mixing import VideoMixer
        from motionfit.data.augment.base import BatchState

        s = self.settings
        mixer = VideoMixer(
            batch.targets.shape[1],
            mixup_alpha=s.mixup_alpha,
            cutmix_alpha=s.cutmix_alpha,
            prob=s.p,
            switch_prob=s.switch_prob,
            frame_cutmix=s.per_frame,
        )
        result = mixer.mix(batch.videos, batch.targets, batch.generator)
        applied = result.lam < 1
        return BatchState(
            result.videos,
            result.targets,
            batch.keys,
            batch.generator,
            {**batch.applied, "mix": applied},
        )
