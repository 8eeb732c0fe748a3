"""VideoMAE ViT-S/B/L (transformers, MCG-NJU weights) and a tiny random-init variant.

Network: :mod:`motionfit.models.hf_videomae` (tubelets of 2 frames x 16x16 px; the position
table is resized to the clip). Weights: a hub id or ``save_pretrained`` folder through
:mod:`motionfit.models.hf_checkpoint`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.families._lazy import build_sized, load_hf
from motionfit.models.family import Advice, Capabilities, Family, WeightsConfig
from motionfit.models.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, register_model
from motionfit.models.registry import register_family as _register_family

FAMILY = _register_family(
    Family(
        name="videomae",
        advice=Advice(
            title="VideoMAE",
            reason="VideoMAE gives the best accuracy, above all with little labeled data",
            rank={"accuracy": 0, "speed": 5, "stability": 2},
        ),
        capabilities=Capabilities(
            grad_checkpointing=True,
            lora_targets=("query", "value"),
            position_tables=True,
            eager_attention=True,
        ),
    )
)


def _weights(hub_id: str, classes: str | None) -> WeightsConfig:
    # the VideoMAE paper's fine-tuning: Kinetics 16 frames at stride 4, SSv2 16 uniform
    # segments; pretraining (no classifier) 16 frames at stride 4 (2 on SSv2), all at 224 px
    if classes == "ssv2":
        return WeightsConfig(
            f"hf:{hub_id}", 16, 224, segments=True, classes=classes, num_classes=174
        )
    if classes == "kinetics400":
        return WeightsConfig(f"hf:{hub_id}", 16, 224, stride=4, classes=classes, num_classes=400)
    note = "self-supervised (tube masking) on Kinetics-400; no classifier"
    return WeightsConfig(f"hf:{hub_id}", 16, 224, stride=4, note=note)


def _build(size: str, *args: Any, **kwargs: Any) -> Any:
    return build_sized(
        "motionfit.models.hf_videomae", "build_videomae", "VIDEOMAE_SIZES", size, *args, **kwargs
    )


_COMMON: dict[str, Any] = {
    "family": FAMILY.name, "frame_multiple": 2, "size_multiple": 16, "load_pretrained": load_hf,
    "mean": IMAGENET_MEAN, "std": IMAGENET_STD,  # the MCG-NJU preprocessor configs
}  # fmt: skip
for name, weights, use_if, recipe in (
    ("videomae_s",
     (_weights("MCG-NJU/videomae-small-finetuned-kinetics", "kinetics400"),
      _weights("MCG-NJU/videomae-small-finetuned-ssv2", "ssv2")),
     "a ViT-S (22 M) that fine-tunes well from VideoMAE weights on one mid-size GPU",
     "videomae_s"),
    ("videomae_b",
     (_weights("MCG-NJU/videomae-base-finetuned-kinetics", "kinetics400"),
      _weights("MCG-NJU/videomae-base-finetuned-ssv2", "ssv2"),
      _weights("MCG-NJU/videomae-base", None)),
     "best accuracy for motion-heavy classes (SSv2-like) when a 16x224 ViT-B fits your GPU",
     "videomae_b"),
    ("videomae_l",
     (_weights("MCG-NJU/videomae-large-finetuned-kinetics", "kinetics400"),
      _weights("MCG-NJU/videomae-large", None)),
     "top accuracy with large data and large GPUs (304 M params; ~3x ViT-B compute)",
     "videomae_b"),
):  # fmt: skip
    register_model(
        ModelSpec(
            name=name,
            builder=partial(_build, name),
            default_frames=16,
            default_size=224,
            weights=weights,
            use_if=use_if,
            recipe=recipe,
            **_COMMON,
        )
    )
register_model(
    ModelSpec(
        name="videomae_tiny",
        builder=partial(_build, "videomae_tiny"),
        default_frames=8,
        default_size=64,
        use_if="CPU demos and tests of the VideoMAE code path; not for accuracy",
        tiny=True,
        **_COMMON,
    )
)
