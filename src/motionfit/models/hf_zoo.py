"""HuggingFace video families in the registry: VideoMAE and TimeSformer.

Their weights load through :func:`motionfit.models.hf_checkpoint.load_hf_pretrained`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from motionfit.models.hf_checkpoint import load_hf_pretrained
from motionfit.models.hf_common import PATCH_SIZE, TUBELET_SIZE
from motionfit.models.hf_timesformer import TIMESFORMER_SIZES, build_timesformer
from motionfit.models.hf_videomae import VIDEOMAE_SIZES, build_videomae
from motionfit.models.registry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    KINETICS_MEAN,
    KINETICS_STD,
    ModelSpec,
    register_model,
)

# ---------------------------------------------------------------------------------------------
# Registry

# TimeSformer's normalization (preprocessor_config.json of facebook/timesformer-base-finetuned-k400)
# is KINETICS_MEAN/STD; VideoMAE's is ImageNet's

_VIDEOMAE: dict[str, Any] = {
    "family": "videomae",
    "frame_multiple": TUBELET_SIZE,
    "size_multiple": PATCH_SIZE,
    "load_pretrained": load_hf_pretrained,
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "extra": {"eager_attention": True},
}
_TIMESFORMER: dict[str, Any] = {
    "family": "timesformer",
    "size_multiple": PATCH_SIZE,
    "load_pretrained": load_hf_pretrained,
    "mean": KINETICS_MEAN,
    "std": KINETICS_STD,
    "extra": {"eager_attention": True},
}


register_model(ModelSpec(
    name="videomae_s",
    builder=partial(build_videomae, size=VIDEOMAE_SIZES["videomae_s"]),
    default_frames=16,
    default_size=224,
    pretrained=("hf:MCG-NJU/videomae-small-finetuned-kinetics",
                "hf:MCG-NJU/videomae-small-finetuned-ssv2"),
    use_if="a ViT-S (22 M) that fine-tunes well from VideoMAE weights on one mid-size GPU",
    recipe="videomae_s",
    **_VIDEOMAE,
))  # fmt: skip
register_model(ModelSpec(
    name="videomae_b",
    builder=partial(build_videomae, size=VIDEOMAE_SIZES["videomae_b"]),
    default_frames=16,
    default_size=224,
    pretrained=("hf:MCG-NJU/videomae-base-finetuned-kinetics",
                "hf:MCG-NJU/videomae-base-finetuned-ssv2",
                "hf:MCG-NJU/videomae-base"),
    use_if="best accuracy for motion-heavy classes (SSv2-like) when a 16x224 ViT-B fits your GPU",
    recipe="videomae_b",
    **_VIDEOMAE,
))  # fmt: skip
register_model(ModelSpec(
    name="videomae_l",
    builder=partial(build_videomae, size=VIDEOMAE_SIZES["videomae_l"]),
    default_frames=16,
    default_size=224,
    pretrained=("hf:MCG-NJU/videomae-large-finetuned-kinetics", "hf:MCG-NJU/videomae-large"),
    use_if="top accuracy with large data and large GPUs (304 M params; ~3x ViT-B compute)",
    recipe="videomae_b",
    **_VIDEOMAE,
))  # fmt: skip
register_model(ModelSpec(
    name="videomae_tiny",
    builder=partial(build_videomae, size=VIDEOMAE_SIZES["videomae_tiny"]),
    default_frames=8,
    default_size=64,
    use_if="CPU demos and tests of the VideoMAE code path; not for accuracy",
    tiny=True,
    **_VIDEOMAE,
))  # fmt: skip
register_model(ModelSpec(
    name="timesformer_b",
    builder=partial(build_timesformer, size=TIMESFORMER_SIZES["timesformer_b"]),
    default_frames=8,
    default_size=224,
    pretrained=("hf:facebook/timesformer-base-finetuned-k400",
                "hf:facebook/timesformer-base-finetuned-k600",
                "hf:facebook/timesformer-base-finetuned-ssv2"),
    use_if="long sparse clips (8 frames, stride 32) where scene context carries the class",
    recipe="timesformer",
    **_TIMESFORMER,
))  # fmt: skip
register_model(ModelSpec(
    name="timesformer_tiny",
    builder=partial(build_timesformer, size=TIMESFORMER_SIZES["timesformer_tiny"]),
    default_frames=8,
    default_size=64,
    use_if="CPU demos and tests of the TimeSformer code path; not for accuracy",
    tiny=True,
    **_TIMESFORMER,
))  # fmt: skip
