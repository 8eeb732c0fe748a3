"""TimeSformer-B (transformers, facebook weights; divided space-time attention) and a tiny
random-init variant.

Network: :mod:`motionfit.models.hf_timesformer` (16x16 px patches, a time table resized to the
clip). Weights: a hub id or ``save_pretrained`` folder through
:mod:`motionfit.models.hf_checkpoint`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.families._lazy import build_sized, load_hf
from motionfit.models.family import Advice, Capabilities, Family, WeightsConfig
from motionfit.models.registry import KINETICS_MEAN, KINETICS_STD, ModelSpec, register_model
from motionfit.models.registry import register_family as _register_family

FAMILY = _register_family(
    Family(
        name="timesformer",
        advice=Advice(
            title="TimeSformer",
            reason="TimeSformer is a pure space-time transformer (divided attention)",
            rank={"accuracy": 3, "speed": 6, "stability": 6},
        ),
        capabilities=Capabilities(
            grad_checkpointing=True,
            lora_targets=("qkv",),
            position_tables=True,
            eager_attention=True,
        ),
    )
)


def _build(size: str, *args: Any, **kwargs: Any) -> Any:
    return build_sized(
        "motionfit.models.hf_timesformer", "build_timesformer", "TIMESFORMER_SIZES", size,
        *args, **kwargs,
    )  # fmt: skip


# the TimeSformer paper: 8 frames at a sampling rate of 1/32 on Kinetics, 8 uniform segments
# on SSv2, 224 px crops
_WEIGHTS = (
    WeightsConfig("hf:facebook/timesformer-base-finetuned-k400", 8, 224, stride=32,
                  classes="kinetics400", num_classes=400),
    WeightsConfig("hf:facebook/timesformer-base-finetuned-k600", 8, 224, stride=32,
                  classes="kinetics600", num_classes=600),
    WeightsConfig("hf:facebook/timesformer-base-finetuned-ssv2", 8, 224, segments=True,
                  classes="ssv2", num_classes=174),
)  # fmt: skip
_COMMON: dict[str, Any] = {
    "family": FAMILY.name, "size_multiple": 16, "load_pretrained": load_hf,
    "mean": KINETICS_MEAN, "std": KINETICS_STD,  # facebook/timesformer-base-finetuned-k400
}  # fmt: skip
register_model(
    ModelSpec(
        name="timesformer_b",
        builder=partial(_build, "timesformer_b"),
        default_frames=8,
        default_size=224,
        weights=_WEIGHTS,
        use_if="long sparse clips (8 frames, stride 32) where scene context carries the class",
        recipe="timesformer",
        **_COMMON,
    )
)
register_model(
    ModelSpec(
        name="timesformer_tiny",
        builder=partial(_build, "timesformer_tiny"),
        default_frames=8,
        default_size=64,
        use_if="CPU demos and tests of the TimeSformer code path; not for accuracy",
        tiny=True,
        **_COMMON,
    )
)
