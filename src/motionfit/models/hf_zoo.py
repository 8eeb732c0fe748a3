"""HuggingFace video families in the registry: VideoMAE and TimeSformer.

Their weights load through :func:`motionfit.models.hf_checkpoint.load_hf_pretrained`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from motionfit.models.hf_checkpoint import load_hf_pretrained
from motionfit.models.hf_common import PATCH_SIZE, TUBELET_SIZE
from motionfit.models.hf_timesformer import (
    TIMESFORMER_SIZES,
    TimeSformerClassifier,
    build_timesformer,
)
from motionfit.models.hf_videomae import VIDEOMAE_SIZES, VideoMAEClassifier, build_videomae
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


def _videomae_builder(name: str) -> Callable[..., VideoMAEClassifier]:
    return functools.partial(build_videomae, size=VIDEOMAE_SIZES[name])


def _timesformer_builder(name: str) -> Callable[..., TimeSformerClassifier]:
    return functools.partial(build_timesformer, size=TIMESFORMER_SIZES[name])


register_model(ModelSpec(
    name="videomae_s",
    builder=_videomae_builder("videomae_s"),
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
    builder=_videomae_builder("videomae_b"),
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
    builder=_videomae_builder("videomae_l"),
    default_frames=16,
    default_size=224,
    pretrained=("hf:MCG-NJU/videomae-large-finetuned-kinetics", "hf:MCG-NJU/videomae-large"),
    use_if="top accuracy with large data and large GPUs (304 M params; ~3x ViT-B compute)",
    recipe="videomae_b",
    **_VIDEOMAE,
))  # fmt: skip
register_model(ModelSpec(
    name="videomae_tiny",
    builder=_videomae_builder("videomae_tiny"),
    default_frames=8,
    default_size=64,
    use_if="CPU demos and tests of the VideoMAE code path; not for accuracy",
    tiny=True,
    **_VIDEOMAE,
))  # fmt: skip
register_model(ModelSpec(
    name="timesformer_b",
    builder=_timesformer_builder("timesformer_b"),
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
    builder=_timesformer_builder("timesformer_tiny"),
    default_frames=8,
    default_size=64,
    use_if="CPU demos and tests of the TimeSformer code path; not for accuracy",
    tiny=True,
    **_TIMESFORMER,
))  # fmt: skip
