"""The 3-D CNNs: R(2+1)D-18 (torchvision, Kinetics weights) and the small motion-only CNNs
(``motioncnn_*``, random init, sized for CPUs).

Networks: :mod:`motionfit.models.tv_r2plus1d` and :mod:`motionfit.models.motioncnn` (both any
clip length and size). Weights: torchvision's enum, read from the torch hub cache.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.families._lazy import call
from motionfit.models.family import Advice, Capabilities, Family, WeightsConfig
from motionfit.models.registry import ModelSpec, register_model
from motionfit.models.registry import register_family as _register_family

FAMILY = _register_family(
    Family(
        name="cnn",
        advice=Advice(
            title="3-D CNN",
            reason="a 3-D CNN is a cheap baseline that fits small GPUs",
            rank={"accuracy": 6, "speed": 2, "stability": 3},
        ),
        capabilities=Capabilities(
            channels_last=True,
            any_clip_length=True,
            # the 3-D convolutions of the residual blocks (a regular expression, as PEFT reads
            # one): motioncnn's stages.N.convK, R(2+1)D's (2+1)-D halves layerN.M.convK.0.{0,3}
            lora_targets=r".*(stages\.\d+\.conv[12]|layer\d\.\d+\.conv[12]\.0\.[03])",
        ),
    )
)

_MOTIONCNN = "motionfit.models.motioncnn"
_USE_IF = (
    "CPU demos, tests and quick augmentation studies; a motion-first baseline, not a "
    "replacement for pretrained transformers on real data"
)
for name, width, appearance, frames, size, use_if, recipe in (
    ("motioncnn_tiny", 16, False, 8, 32, _USE_IF, "demo"),
    ("motioncnn_tiny_rgb", 16, True, 8, 32,
     "augmentation studies: motioncnn_tiny that also sees the frames, so it can learn "
     "appearance shortcuts", "ablation_demo"),
    ("motioncnn_s", 32, False, 16, 112, _USE_IF, "demo"),
):  # fmt: skip
    register_model(
        ModelSpec(
            name=name,
            family=FAMILY.name,
            builder=partial(
                call, _MOTIONCNN, "build_motioncnn", width=width, appearance=appearance
            ),
            default_frames=frames,
            default_size=size,
            use_if=use_if,
            recipe=recipe,
            tiny=name != "motioncnn_s",
            sees_appearance=appearance,
        )
    )


def _load_r2plus1d(model: Any, source: str) -> Any:
    return call(
        "motionfit.models.tv_weights", "load_torchvision_pretrained", model, source,
        tv_model="r2plus1d_18", native_classifier="fc.",
    )  # fmt: skip


register_model(
    ModelSpec(
        name="r2plus1d_18",
        family=FAMILY.name,
        builder=partial(call, "motionfit.models.tv_r2plus1d", "build_r2plus1d_18"),
        load_pretrained=_load_r2plus1d,
        default_frames=16,
        default_size=112,
        size_multiple=16,
        # torchvision's docs: clip_len=16 at frame_rate=15, 112 crops of 128x171 frames
        weights=(
            WeightsConfig(
                "torchvision:KINETICS400_V1",
                frames=16,
                stride=2,
                size=112,
                classes="kinetics400",
                num_classes=400,
            ),
        ),
        mean=(0.43216, 0.394666, 0.37645),  # R2Plus1D_18_Weights transforms
        std=(0.22803, 0.22145, 0.216989),
        use_if="a CNN baseline: cheap at 112 px, no attention",
        recipe="r2plus1d_18",
    )
)
