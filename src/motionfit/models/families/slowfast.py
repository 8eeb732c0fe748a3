"""SlowFast (Feichtenhofer et al., ICCV 2019): a ResNet-50 slow pathway for appearance and a
thin fast one for motion, over one decoded clip.

Network: :mod:`motionfit.models.slowfast` (any clip length and size; the slow pathway takes
every ``alpha``-th frame of the clip). Weights: PyTorchVideo's model zoo ``.pyth`` files
(``pytorchvideo:slowfast_r50``, read from the torch hub cache) or a local PyTorchVideo
``.pyth``/mmaction2 ``.pth`` file (:mod:`motionfit.models.zoo_weights`; mmaction2's SlowFast
was trained with ImageNet mean/std, ``augment.mean``/``std`` can say so). Clips of the
published configs (PySlowFast ``configs/Kinetics/SLOWFAST_8x8_R50.yaml``,
``SLOWFAST_4x16_R50.yaml``): 32 frames at stride 2 and 224 px; the slow pathway sees 8 of them
(8x8, alpha 4) or 4 (4x16, alpha 8).
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
        name="slowfast",
        advice=Advice(
            title="SlowFast",
            reason="SlowFast sees the clip at two frame rates (a slow pathway for appearance, "
            "a fast one for motion): for actions told apart by how things move",
            rank={"accuracy": 4, "speed": 3, "stability": 4},
        ),
        capabilities=Capabilities(
            channels_last=True,
            any_clip_length=True,
            # the 1x3x3 convolution of every bottleneck of both pathways
            lora_targets=r".*_stages\.\d+\.\d+\.conv2",
        ),
    )
)

_NETWORK = "motionfit.models.slowfast"


def _load(model: Any, source: str) -> Any:
    return call(
        "motionfit.models.zoo_weights", "load_zoo_pretrained", model, source, family="slowfast"
    )


for name, use_if in (
    ("slowfast_r50", "motion at two rates: 8 slow + 32 fast frames, ~77% on Kinetics-400"),
    ("slowfast_r50_4x16", "SlowFast at about half the cost: 4 slow + 32 fast frames"),
):
    register_model(
        ModelSpec(
            name=name,
            family=FAMILY.name,
            builder=partial(call, _NETWORK, "build_slowfast", size=name),
            load_pretrained=_load,
            default_frames=32,
            default_size=224,
            weights=(
                WeightsConfig(
                    f"pytorchvideo:{name}",
                    frames=32,
                    stride=2,
                    size=224,
                    classes="kinetics400",
                    num_classes=400,
                ),
            ),
            use_if=use_if,
            recipe="slowfast_r50",
        )
    )

register_model(
    ModelSpec(
        name="slowfast_tiny",
        family=FAMILY.name,
        builder=partial(call, _NETWORK, "build_slowfast", size="slowfast_tiny"),
        load_pretrained=_load,
        default_frames=8,
        default_size=32,
        use_if="tests and CPU demos of the SlowFast family (random init)",
        tiny=True,
    )
)
