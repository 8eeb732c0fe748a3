"""X3D (Feichtenhofer, CVPR 2020): the efficient 3-D CNNs, XS/S/M/L, from PyTorchVideo's
Kinetics-400 weights.

Network: :mod:`motionfit.models.x3d` (any clip length and size). Weights: PyTorchVideo's model
zoo ``.pyth`` files (``pytorchvideo:x3d_s``, read from the torch hub cache) or a local
PyTorchVideo ``.pyth``/mmaction2 ``.pth`` file (:mod:`motionfit.models.zoo_weights`). Clips of
the published configs (PySlowFast ``configs/Kinetics/X3D_*.yaml``, PyTorchVideo
``models/hub/x3d.py``): XS 4 frames at stride 12, S 13 at 6, M and L 16 at 5; crops of 160
(XS, S), 224 (M) and 312 (L). XS, S and M are one network (3.8 M parameters) at three clips.
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
        name="x3d",
        advice=Advice(
            title="X3D",
            reason="X3D costs a few GFLOPs per clip: the family for speed, CPUs and edge "
            "deployment",
            rank={"accuracy": 5, "speed": 0, "stability": 5},
        ),
        capabilities=Capabilities(
            any_clip_length=True,
            # the pointwise convolutions of each bottleneck (PEFT reads a regular expression)
            lora_targets=r".*stages\.\d+\.\d+\.conv[13]",
        ),
    )
)

_NETWORK = "motionfit.models.x3d"


def _load(model: Any, source: str) -> Any:
    return call("motionfit.models.zoo_weights", "load_zoo_pretrained", model, source, family="x3d")


for name, frames, stride, size, recipe, use_if in (
    ("x3d_xs", 4, 12, 160, "x3d_s",
     "the cheapest pretrained video model: 4 frames at 160 px, for CPUs and phones"),
    ("x3d_s", 13, 6, 160, "x3d_s",
     "fast fine-tuning and edge deployment: ~73% on Kinetics-400 at a few GFLOPs"),
    ("x3d_m", 16, 5, 224, "x3d_m", "X3D at 224 px: more accurate than S at 3x its cost"),
    ("x3d_l", 16, 5, 312, "x3d_m", "the deepest X3D (6.1 M parameters) at 312 px"),
):  # fmt: skip
    register_model(
        ModelSpec(
            name=name,
            family=FAMILY.name,
            builder=partial(call, _NETWORK, "build_x3d", size=name),
            load_pretrained=_load,
            default_frames=frames,
            default_size=size,
            weights=(
                WeightsConfig(
                    f"pytorchvideo:{name}",
                    frames=frames,
                    stride=stride,
                    size=size,
                    classes="kinetics400",
                    num_classes=400,
                ),
            ),
            use_if=use_if,
            recipe=recipe,
        )
    )

register_model(
    ModelSpec(
        name="x3d_tiny",
        family=FAMILY.name,
        builder=partial(call, _NETWORK, "build_x3d", size="x3d_tiny"),
        load_pretrained=_load,
        default_frames=8,
        default_size=64,
        use_if="tests and CPU demos of the X3D family (random init)",
        tiny=True,
    )
)
