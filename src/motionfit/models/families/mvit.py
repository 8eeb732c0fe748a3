"""MViT v2-S and v1-B (torchvision, Kinetics weights) and a tiny random-init v2 variant.

Network: :mod:`motionfit.models.tv_mvit` (built for one clip length and size; pretrained
position tables are resized to it). Weights: torchvision's enums, read from the torch hub cache.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.family import Advice, Capabilities, Family, WeightsConfig
from motionfit.models.registry import KINETICS_MEAN, KINETICS_STD, ModelSpec, register_model
from motionfit.models.registry import register_family as _register_family

FAMILY = _register_family(
    Family(
        name="mvit",
        advice=Advice(
            title="MViT",
            reason="MViT is the most compute-efficient family at 16 frames",
            rank={"accuracy": 2, "speed": 1, "stability": 1},
        ),
        capabilities=Capabilities(
            lora_targets=("attn.qkv", "attn.project.0"), position_tables=True
        ),
    )
)
# torchvision's docs: clip_len=16 at frame_rate=7.5 (every 4th frame of 30 fps), 224 crops
KINETICS400 = WeightsConfig(
    "torchvision:KINETICS400_V1", frames=16, stride=4, size=224, classes="kinetics400",
    num_classes=400,
)  # fmt: skip


def _build(arch: str, *args: Any) -> Any:
    from motionfit.models.tv_mvit import MVIT_ARCHS, build_mvit

    return build_mvit(MVIT_ARCHS[arch], *args)


def _load(tv_model: str | None, model: Any, source: str) -> Any:
    from motionfit.models.tv_weights import load_torchvision_pretrained

    return load_torchvision_pretrained(
        model, source, tv_model=tv_model, native_classifier="head.1."
    )


_COMMON: dict[str, Any] = {
    "family": FAMILY.name, "frame_multiple": 2, "size_multiple": 32,
    "mean": KINETICS_MEAN, "std": KINETICS_STD,  # MViT_*_Weights transforms
}  # fmt: skip
for name, use_if in (
    ("mvit_v2_s", "compute efficiency at 16 frames"),
    ("mvit_v1_b", "MViT v1 baseline; prefer mvit_v2_s unless you need v1 weights"),
):
    register_model(
        ModelSpec(
            name=name,
            builder=partial(_build, name),
            load_pretrained=partial(_load, name),
            default_frames=16,
            default_size=224,
            weights=(KINETICS400,),
            use_if=use_if,
            recipe=name,
            **_COMMON,
        )
    )
register_model(
    ModelSpec(
        name="mvit_tiny",
        builder=partial(_build, "mvit_tiny"),
        load_pretrained=partial(_load, None),
        default_frames=8,
        default_size=64,
        use_if="CPU demos and tests of the MViT v2 code path (random init)",
        tiny=True,
        **_COMMON,
    )
)
