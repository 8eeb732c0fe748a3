"""Multiscale Vision Transformer v1/v2 (torchvision's ``MViT``) as a :class:`VideoClassifier`.

Built through torchvision's ``MViT`` class for any clip length and size (the ``mvit_*``
builders hard-code 16x224); a model runs at the clip shape it was built for, and
:func:`adapt_mvit_positions` resizes a checkpoint's position tables to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.video import MViT
from torchvision.models.video.mvit import MSBlockConfig

from motionfit.errors import ModelError
from motionfit.models.head import HeadSpec
from motionfit.models.posembed import resize_flat_grid, resize_table
from motionfit.models.tv_common import TorchvisionVideoClassifier


@dataclass(frozen=True)
class MViTArch:
    """An MViT variant in the compact form of the MViT papers (and PySlowFast configs).

    Attributes:
        depths: blocks per stage; each new stage halves the spatial tokens (query pooling) and
            doubles width and heads.
        embed_dim: width of the first stage.
        num_heads: heads of the first stage.
        v2: MViTv2 (relative position tables, residual pooling, channel change inside
            attention) instead of v1 (separable absolute position embeddings).
        kv_stride: key/value pooling stride of the first stage, halved spatially per stage.
    """

    depths: tuple[int, ...]
    embed_dim: int
    num_heads: int
    v2: bool
    kv_stride: tuple[int, int, int] = (1, 8, 8)


MVIT_V1_B = MViTArch((1, 2, 11, 2), 96, 1, v2=False)
MVIT_V2_S = MViTArch((1, 2, 11, 2), 96, 1, v2=True)
MVIT_TINY = MViTArch((1, 1, 2, 1), 24, 1, v2=True, kv_stride=(1, 4, 4))
MVIT_ARCHS = {"mvit_v1_b": MVIT_V1_B, "mvit_v2_s": MVIT_V2_S, "mvit_tiny": MVIT_TINY}


class MViTClassifier(TorchvisionVideoClassifier):
    """Multiscale Vision Transformer v1/v2 (CLS token), built for one clip length and size.

    Depth map: patch embedding and position embeddings 0, blocks 1..L, final norm and head L+1.
    """

    family = "mvit"

    def __init__(
        self,
        backbone: MViT,
        num_classes: int,
        head: HeadSpec,
        input_shape: tuple[int, int, int],
    ) -> None:
        blocks: list[tuple[str, ...]] = [
            (f"backbone.blocks.{i}.",) for i in range(len(backbone.blocks))
        ]
        super().__init__(
            backbone,
            backbone.norm.normalized_shape[0],
            num_classes,
            head,
            ("backbone.conv_proj.", "backbone.pos_encoding."),
            blocks,
            extra_no_decay=("backbone.pos_encoding.",),
        )
        self.input_shape = input_shape

    def adapt_pretrained_state(
        self, state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]
    ) -> list[str]:
        """Resize the checkpoint's position tables to this clip shape
        (:func:`adapt_mvit_positions`)."""
        return adapt_mvit_positions(state, own)

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """As the base class; the clip must have the frames and size the model was built for."""
        if tuple(video.shape[2:]) != self.input_shape:
            raise ModelError(
                f"MViT built for clips of {self.input_shape} (T, H, W) got {tuple(video.shape[2:])}"
                "; build it with the clip's num_frames and image_size"
            )
        return self.backbone(video)


def mvit_block_settings(arch: MViTArch) -> list[MSBlockConfig]:
    """The per-block settings torchvision's ``MViT`` takes, expanded from ``arch``."""
    stage_starts = {sum(arch.depths[:i]) for i in range(1, len(arch.depths))}
    dim, heads, kv_stride = arch.embed_dim, arch.num_heads, list(arch.kv_stride)
    settings = []
    for index in range(sum(arch.depths)):
        pool = index in stage_starts
        if pool:
            heads *= 2
            kv_stride = [kv_stride[0], max(1, kv_stride[1] // 2), max(1, kv_stride[2] // 2)]
        # v2 widens at the pooling block (inside attention), v1 in the block before it
        widen = pool if arch.v2 else (index + 1) in stage_starts
        out_dim = dim * 2 if widen else dim
        no_pool: list[int] = [1, 1, 1] if arch.v2 else []
        settings.append(
            MSBlockConfig(
                num_heads=heads,
                input_channels=dim,
                output_channels=out_dim,
                kernel_q=[3, 3, 3] if pool or arch.v2 else [],
                kernel_kv=[3, 3, 3],
                stride_q=[1, 2, 2] if pool else no_pool,
                stride_kv=list(kv_stride),
            )
        )
        dim = out_dim
    return settings


def build_mvit(
    arch: MViTArch,
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
) -> MViTClassifier:
    """An MViT classifier for clips of exactly ``num_frames`` x ``image_size``^2."""
    settings = mvit_block_settings(arch)
    backbone = MViT(
        spatial_size=(image_size, image_size),
        temporal_size=num_frames,
        block_setting=settings,
        residual_pool=arch.v2,
        residual_with_cls_embed=False,
        rel_pos_embed=arch.v2,
        proj_after_attn=arch.v2,
        stochastic_depth_prob=drop_path,
        num_classes=num_classes,
    )
    backbone.head = nn.Identity()
    return MViTClassifier(backbone, num_classes, head, (num_frames, image_size, image_size))


def adapt_mvit_positions(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> list[str]:
    """Resize MViT position tables in ``state`` to the model's clip length and size.

    v2: relative tables ``rel_pos_t`` (``2 T' - 1`` rows) and ``rel_pos_h/w`` (from the spatial
    token grid); v1: separable ``temporal_pos`` ``[T', C]`` and ``spatial_pos`` ``[H' W', C]``
    (a square grid). Returns one line per adapted tensor.
    """
    adapted = []
    for key, value in list(state.items()):
        target = own.get(key)
        if target is None or target.shape == value.shape or target.shape[1:] != value.shape[1:]:
            continue
        if key.endswith(("rel_pos_h", "rel_pos_w", "rel_pos_t", "pos_encoding.temporal_pos")):
            state[key] = resize_table(value, target.shape[0])
        elif key.endswith("pos_encoding.spatial_pos"):
            old, new = math.isqrt(value.shape[0]), math.isqrt(target.shape[0])
            if old * old != value.shape[0]:
                continue  # not a square grid: left as a mismatch in the report
            state[key] = resize_flat_grid(value, (old, old), (new, new))
        else:
            continue
        adapted.append(f"{key}: {tuple(value.shape)} -> {tuple(target.shape)}")
    return adapted
