"""torchvision video families in the registry: Video Swin T/S/B, MViT v2-S/v1-B, R(2+1)D-18,
and tiny random-init Swin and MViT variants for CPU demos.

Their weights load through :func:`motionfit.models.tv_weights.torchvision_loader`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from motionfit.models.base import VideoClassifier
from motionfit.models.registry import ModelSpec, register_model
from motionfit.models.tv_mvit import (
    MVIT_TINY,
    MVIT_V1_B,
    MVIT_V2_S,
    adapt_mvit_positions,
    build_mvit,
)
from motionfit.models.tv_r2plus1d import build_r2plus1d_18
from motionfit.models.tv_swin import SWIN3D_B, SWIN3D_S, SWIN3D_T, SWIN3D_TINY, build_swin
from motionfit.models.tv_weights import (
    pretrained_sources,
    torchvision_loader,
    weights_normalization,
)
from motionfit.models.weights import StateAdapter

_SWIN: dict[str, Any] = {"family": "swin", "frame_multiple": 2, "size_multiple": 32}
_MVIT: dict[str, Any] = {"family": "mvit", "frame_multiple": 2, "size_multiple": 32}


def _register(
    name: str,
    builder: Callable[..., VideoClassifier],
    *,
    tv_model: str | None,
    normalized_as: str,
    classifier: str,
    adapt: StateAdapter | None = None,
    **fields: Any,
) -> None:
    """Register ``name`` with the weights torchvision has for ``tv_model`` (None: random init,
    local files only), the normalization of ``normalized_as``'s weights, and a loader mapping
    the backbone's own ``classifier`` prefix to the motionfit head."""
    register_model(
        ModelSpec(
            name=name,
            builder=builder,
            pretrained=pretrained_sources(tv_model) if tv_model else (),
            load_pretrained=torchvision_loader(tv_model, classifier, adapt),
            **weights_normalization(normalized_as),
            **fields,
        )
    )


def _register_swin() -> None:
    """Video Swin T/S/B (Kinetics weights) and the tiny variant."""
    use_if = {
        "swin3d_t": "stable, easy fine-tuning with 32-frame clips; the safe default",
        "swin3d_s": "Video Swin with more capacity than T, for more data and memory",
        "swin3d_b": "the strongest Video Swin (ImageNet-22K weights too), for large GPUs",
    }
    for name, arch in (("swin3d_t", SWIN3D_T), ("swin3d_s", SWIN3D_S), ("swin3d_b", SWIN3D_B)):
        _register(
            name,
            partial(build_swin, arch),
            tv_model=name,
            normalized_as=name,
            classifier="head.",
            default_frames=32,
            default_size=224,
            use_if=use_if[name],
            recipe="swin3d_b" if name == "swin3d_b" else "swin3d_t",
            **_SWIN,
        )
    _register(
        "swin3d_tiny",
        partial(build_swin, SWIN3D_TINY),
        tv_model=None,
        normalized_as="swin3d_t",
        classifier="head.",
        default_frames=8,
        default_size=64,
        use_if="CPU demos and tests of the Video Swin code path (random init)",
        tiny=True,
        **_SWIN,
    )


def _register_mvit() -> None:
    """MViT v2-S and v1-B (Kinetics weights) and the tiny v2 variant."""
    for name, arch, use_if in (
        ("mvit_v2_s", MVIT_V2_S, "compute efficiency at 16 frames"),
        ("mvit_v1_b", MVIT_V1_B, "MViT v1 baseline; prefer mvit_v2_s unless you need v1 weights"),
    ):
        _register(
            name,
            partial(build_mvit, arch),
            tv_model=name,
            normalized_as=name,
            classifier="head.1.",
            adapt=adapt_mvit_positions,
            default_frames=16,
            default_size=224,
            use_if=use_if,
            recipe=name,
            **_MVIT,
        )
    _register(
        "mvit_tiny",
        partial(build_mvit, MVIT_TINY),
        tv_model=None,
        normalized_as="mvit_v2_s",
        classifier="head.1.",
        adapt=adapt_mvit_positions,
        default_frames=8,
        default_size=64,
        use_if="CPU demos and tests of the MViT v2 code path (random init)",
        tiny=True,
        **_MVIT,
    )


_register_swin()
_register_mvit()
_register(
    "r2plus1d_18",
    build_r2plus1d_18,
    tv_model="r2plus1d_18",
    normalized_as="r2plus1d_18",
    classifier="fc.",
    family="cnn",
    default_frames=16,
    default_size=112,
    size_multiple=16,
    use_if="a CNN baseline: cheap at 112 px, no attention",
    recipe="r2plus1d_18",
)
