"""Video Swin Transformer T/S/B (torchvision, Kinetics weights) and a tiny random-init variant.

Network: :mod:`motionfit.models.tv_swin` (any clip length and size: windows shrink to small
feature maps). Weights: torchvision's enums, read from the torch hub cache.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.family import Advice, Capabilities, Family, WeightsConfig
from motionfit.models.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, register_model
from motionfit.models.registry import register_family as _register_family

FAMILY = _register_family(
    Family(
        name="swin",
        advice=Advice(
            title="Video Swin",
            reason="Video Swin fine-tunes stably and easily, with 32-frame clips",
            rank={"accuracy": 1, "speed": 4, "stability": 0},
        ),
        # the MLPs: torchvision's window attention reads attn.qkv/attn.proj's weights directly
        # (shifted_window_attention), so adapters on them would never run
        capabilities=Capabilities(
            lora_targets=("mlp.0", "mlp.3"),
            # ShiftedWindowAttention3d passes qkv.weight / proj.weight to a function
            lora_bypassed=("attn.qkv", "attn.proj"),
        ),
    )
)


def _kinetics(enum: str, note: str = "") -> WeightsConfig:
    # torchvision's docs: clip_len=32 at frame_rate=15 (every 2nd frame of 30 fps), 224 crops
    return WeightsConfig(
        f"torchvision:{enum}", frames=32, stride=2, size=224, classes="kinetics400",
        num_classes=400, note=note,
    )  # fmt: skip


def _build(arch: str, *args: Any) -> Any:
    from motionfit.models.tv_swin import SWIN_ARCHS, build_swin

    return build_swin(SWIN_ARCHS[arch], *args)


def _load(tv_model: str | None, model: Any, source: str) -> Any:
    from motionfit.models.tv_weights import load_torchvision_pretrained

    return load_torchvision_pretrained(model, source, tv_model=tv_model, native_classifier="head.")


_COMMON: dict[str, Any] = {
    "family": FAMILY.name, "frame_multiple": 2, "size_multiple": 32,
    "mean": IMAGENET_MEAN, "std": IMAGENET_STD,  # Swin3D_*_Weights transforms
}  # fmt: skip
for name, use_if, weights in (
    ("swin3d_t", "stable, easy fine-tuning with 32-frame clips; the safe default",
     (_kinetics("KINETICS400_V1"),)),
    ("swin3d_s", "Video Swin with more capacity than T, for more data and memory",
     (_kinetics("KINETICS400_V1"),)),
    ("swin3d_b", "the strongest Video Swin (ImageNet-22K weights too), for large GPUs",
     (_kinetics("KINETICS400_V1"),
      _kinetics("KINETICS400_IMAGENET22K_V1", "ImageNet-22K pretraining before Kinetics"))),
):  # fmt: skip
    register_model(
        ModelSpec(
            name=name,
            builder=partial(_build, name),
            load_pretrained=partial(_load, name),
            default_frames=32,
            default_size=224,
            weights=weights,
            use_if=use_if,
            recipe="swin3d_b" if name == "swin3d_b" else "swin3d_t",
            **_COMMON,
        )
    )
register_model(
    ModelSpec(
        name="swin3d_tiny",
        builder=partial(_build, "swin3d_tiny"),
        load_pretrained=partial(_load, None),
        default_frames=8,
        default_size=64,
        use_if="CPU demos and tests of the Video Swin code path (random init)",
        tiny=True,
        **_COMMON,
    )
)
