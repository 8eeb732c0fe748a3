"""VideoPrism B/L (google weights, converted to transformers' layout; made to be used frozen)
and a tiny random-init variant.

Network: :mod:`motionfit.models.hf_videoprism` (factorized space-time encoder, 18x18 px
patches). Weights: a hub id or ``save_pretrained`` folder through
:mod:`motionfit.models.hf_checkpoint`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.families._lazy import build_sized, load_hf
from motionfit.models.family import Advice, Capabilities, Family, WeightsConfig
from motionfit.models.registry import ModelSpec, register_model
from motionfit.models.registry import register_family as _register_family

FAMILY = _register_family(
    Family(
        name="videoprism",
        advice=Advice(
            title="VideoPrism",
            reason="VideoPrism's frozen features are general-purpose (appearance and motion)",
            rank={"accuracy": 1, "speed": 0, "stability": 1},
        ),
        capabilities=Capabilities(
            lora_targets=("q_proj", "v_proj"),
            attentive_head=True,
            frozen_features=True,
            eager_attention=True,
        ),
    )
)


def _build(size: str, *args: Any, **kwargs: Any) -> Any:
    return build_sized(
        "motionfit.models.hf_videoprism", "build_videoprism", "VIDEOPRISM_SIZES", size,
        *args, **kwargs,
    )  # fmt: skip


_COMMON: dict[str, Any] = {
    "family": FAMILY.name, "size_multiple": 18, "load_pretrained": load_hf,
    "recipe": "videoprism_b",
    # RGB in [0, 1] without mean/std normalization (google-deepmind/videoprism)
    "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0),
}  # fmt: skip
_NOTE = "video-text and video-only pretraining; no classifier"
for name, frames, hub_id, use_if in (
    ("videoprism_b", 16, "google/videoprism-base-f16r288",
     "frozen general-purpose video features (appearance and motion) for probes on few labels"),
    ("videoprism_l", 8, "google/videoprism-large-f8r288",
     "VideoPrism ViT-L: stronger frozen features at 8 frames, for probes on a large GPU"),
):  # fmt: skip
    register_model(
        ModelSpec(
            name=name,
            builder=partial(_build, name),
            default_frames=frames,
            default_size=288,
            weights=(WeightsConfig(f"hf:{hub_id}", frames, 288, segments=True, note=_NOTE),),
            use_if=use_if,
            **_COMMON,
        )
    )
register_model(
    ModelSpec(
        name="videoprism_tiny",
        builder=partial(_build, "videoprism_tiny"),
        default_frames=8,
        default_size=72,
        use_if="CPU demos and tests of the VideoPrism code path; not for accuracy",
        tiny=True,
        **{**_COMMON, "recipe": None},
    )
)
