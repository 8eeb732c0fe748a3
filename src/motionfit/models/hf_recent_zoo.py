"""V-JEPA 2 and VideoPrism in the registry; their weights load through
:func:`motionfit.models.hf_checkpoint.load_hf_pretrained` (hub id or ``save_pretrained``
folder, offline safe, with the load report)."""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.hf_checkpoint import load_hf_pretrained
from motionfit.models.hf_videoprism import PATCH_SIZE as PRISM_PATCH
from motionfit.models.hf_videoprism import VIDEOPRISM_SIZES, build_videoprism
from motionfit.models.hf_vjepa2 import PATCH_SIZE, TUBELET_SIZE, VJEPA2_SIZES, build_vjepa2
from motionfit.models.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, register_model

_VJEPA2: dict[str, Any] = {
    "family": "vjepa2",
    "frame_multiple": TUBELET_SIZE,
    "size_multiple": PATCH_SIZE,
    "load_pretrained": load_hf_pretrained,
    "recipe": "vjepa2_l",
    # facebook/vjepa2-vitl-fpc64-256 preprocessor_config.json: ImageNet mean/std
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "extra": {"eager_attention": True, "attentive": True},
}  # fmt: skip
_VIDEOPRISM: dict[str, Any] = {
    "family": "videoprism",
    "size_multiple": PRISM_PATCH,
    "load_pretrained": load_hf_pretrained,
    "recipe": "videoprism_b",
    # VideoPrism takes RGB in [0, 1] without mean/std normalization (google-deepmind/videoprism)
    "mean": (0.0, 0.0, 0.0),
    "std": (1.0, 1.0, 1.0),
    "extra": {"eager_attention": True, "attentive": True},
}  # fmt: skip


register_model(ModelSpec(
    name="vjepa2_l",
    builder=partial(build_vjepa2, size=VJEPA2_SIZES["vjepa2_l"]),
    default_frames=16,
    default_size=256,
    pretrained=("hf:facebook/vjepa2-vitl-fpc64-256", "hf:facebook/vjepa2-vitl-fpc16-256-ssv2",
                "hf:facebook/vjepa2-vitl-fpc32-256-diving48"),
    use_if="little labeled data and motion-heavy classes: a frozen V-JEPA 2 ViT-L with an "
           "attentive probe (features cached once) or LoRA",
    **_VJEPA2,
))  # fmt: skip
register_model(ModelSpec(
    name="vjepa2_h",
    builder=partial(build_vjepa2, size=VJEPA2_SIZES["vjepa2_h"]),
    default_frames=16,
    default_size=256,
    pretrained=("hf:facebook/vjepa2-vith-fpc64-256",),
    use_if="a stronger frozen V-JEPA 2 backbone (ViT-H, 630 M) when probe accuracy matters most",
    **_VJEPA2,
))  # fmt: skip
register_model(ModelSpec(
    name="vjepa2_g",
    builder=partial(build_vjepa2, size=VJEPA2_SIZES["vjepa2_g"]),
    default_frames=16,
    default_size=256,
    pretrained=("hf:facebook/vjepa2-vitg-fpc64-256",),
    use_if="the best frozen V-JEPA 2 features at 256 px (ViT-g, 1 B); probes only on most GPUs",
    **_VJEPA2,
))  # fmt: skip
register_model(ModelSpec(
    name="vjepa2_g384",
    builder=partial(build_vjepa2, size=VJEPA2_SIZES["vjepa2_g384"]),
    default_frames=16,
    default_size=384,
    pretrained=("hf:facebook/vjepa2-vitg-fpc64-384",),
    use_if="ViT-g at 384 px: V-JEPA 2's top frozen-probe accuracy (SSv2 77.3) on large GPUs",
    **_VJEPA2,
))  # fmt: skip
register_model(ModelSpec(
    name="vjepa2_tiny",
    builder=partial(build_vjepa2, size=VJEPA2_SIZES["vjepa2_tiny"]),
    default_frames=8,
    default_size=64,
    use_if="CPU demos and tests of the V-JEPA 2 code path; not for accuracy",
    tiny=True,
    **{**_VJEPA2, "recipe": None},
))  # fmt: skip
register_model(ModelSpec(
    name="videoprism_b",
    builder=partial(build_videoprism, size=VIDEOPRISM_SIZES["videoprism_b"]),
    default_frames=16,
    default_size=288,
    pretrained=("hf:google/videoprism-base-f16r288",),
    use_if="frozen general-purpose video features (appearance and motion) for probes on few labels",
    **_VIDEOPRISM,
))  # fmt: skip
register_model(ModelSpec(
    name="videoprism_l",
    builder=partial(build_videoprism, size=VIDEOPRISM_SIZES["videoprism_l"]),
    default_frames=8,
    default_size=288,
    pretrained=("hf:google/videoprism-large-f8r288",),
    use_if="VideoPrism ViT-L: stronger frozen features at 8 frames, for probes on a large GPU",
    **_VIDEOPRISM,
))  # fmt: skip
register_model(ModelSpec(
    name="videoprism_tiny",
    builder=partial(build_videoprism, size=VIDEOPRISM_SIZES["videoprism_tiny"]),
    default_frames=8,
    default_size=72,
    use_if="CPU demos and tests of the VideoPrism code path; not for accuracy",
    tiny=True,
    **{**_VIDEOPRISM, "recipe": None},
))  # fmt: skip
