"""V-JEPA 2 ViT-L/H/g (transformers, facebook weights; made to be used frozen) and a tiny
random-init variant.

Network: :mod:`motionfit.models.hf_vjepa2` (tubelets of 2 frames x 16x16 px, rotary positions:
any clip). Weights: a hub id or ``save_pretrained`` folder through
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
        name="vjepa2",
        advice=Advice(
            title="V-JEPA 2",
            reason="V-JEPA 2's frozen features carry motion: a probe on few labels beats "
            "fine-tuning",
            rank={"accuracy": 0, "speed": 1, "stability": 0},
        ),
        capabilities=Capabilities(
            lora_targets=("query", "value"),
            attentive_head=True,
            frozen_features=True,
            eager_attention=True,
        ),
    )
)


def _build(size: str, *args: Any, **kwargs: Any) -> Any:
    return build_sized(
        "motionfit.models.hf_vjepa2", "build_vjepa2", "VJEPA2_SIZES", size, *args, **kwargs
    )


def _pretrained(hub_id: str, size: int) -> WeightsConfig:
    # "fpc64": 64 frames per clip in the last stage of self-supervised pretraining
    return WeightsConfig(f"hf:{hub_id}", 64, size, note="self-supervised; no classifier")


_COMMON: dict[str, Any] = {
    "family": FAMILY.name, "frame_multiple": 2, "size_multiple": 16, "load_pretrained": load_hf,
    "recipe": "vjepa2_l",
    "mean": IMAGENET_MEAN, "std": IMAGENET_STD,  # facebook/vjepa2-vitl-fpc64-256 preprocessor
}  # fmt: skip
_FROZEN = "little labeled data and motion-heavy classes: a frozen V-JEPA 2 ViT-L with an "
for name, size, weights, use_if in (
    ("vjepa2_l", 256,
     (_pretrained("facebook/vjepa2-vitl-fpc64-256", 256),
      WeightsConfig("hf:facebook/vjepa2-vitl-fpc16-256-ssv2", 16, 256, segments=True,
                    classes="ssv2", num_classes=174, note="an attentive probe on SSv2"),
      WeightsConfig("hf:facebook/vjepa2-vitl-fpc32-256-diving48", 32, 256, segments=True,
                    classes="diving48", num_classes=48, note="an attentive probe on Diving-48")),
     _FROZEN + "attentive probe (features cached once) or LoRA"),
    ("vjepa2_h", 256, (_pretrained("facebook/vjepa2-vith-fpc64-256", 256),),
     "a stronger frozen V-JEPA 2 backbone (ViT-H, 630 M) when probe accuracy matters most"),
    ("vjepa2_g", 256, (_pretrained("facebook/vjepa2-vitg-fpc64-256", 256),),
     "the best frozen V-JEPA 2 features at 256 px (ViT-g, 1 B); probes only on most GPUs"),
    ("vjepa2_g384", 384, (_pretrained("facebook/vjepa2-vitg-fpc64-384", 384),),
     "ViT-g at 384 px: V-JEPA 2's top frozen-probe accuracy (SSv2 77.3) on large GPUs"),
):  # fmt: skip
    register_model(
        ModelSpec(
            name=name,
            builder=partial(_build, name),
            default_frames=16,
            default_size=size,
            weights=weights,
            use_if=use_if,
            **_COMMON,
        )
    )
register_model(
    ModelSpec(
        name="vjepa2_tiny",
        builder=partial(_build, "vjepa2_tiny"),
        default_frames=8,
        default_size=64,
        use_if="CPU demos and tests of the V-JEPA 2 code path; not for accuracy",
        tiny=True,
        **{**_COMMON, "recipe": None},
    )
)
