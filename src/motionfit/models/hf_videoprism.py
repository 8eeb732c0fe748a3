"""VideoPrism (transformers ``VideoPrismVisionModel``) as a :class:`VideoClassifier`.

A factorized ViViT encoder: spatial layers over 18x18 patches of each frame, then temporal
layers over frames. Its learned spatial (2-D) and temporal (1-D) position tables are
interpolated to the model's clip length and size when weights are loaded. The classifier is
VideoPrism's multi-head attention pooling (transformers'
``VideoPrismMultiheadAttentionPoolingHead`` + layer norm, as in
``VideoPrismForVideoClassification``) or, with ``model.head=linear``, mean pooling + ``fc_norm``.
transformers' VideoPrism has no stochastic depth: ``drop_path`` is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from motionfit.errors import ModelError
from motionfit.models.head import HeadSpec, VideoHead
from motionfit.models.hf_common import (
    TokenPoolingClassifier,
    check_clip_shape,
    hf_builder,
    square_side,
)

if TYPE_CHECKING:
    from transformers import VideoPrismVisionConfig

PATCH_SIZE = 18


@dataclass(frozen=True)
class PrismSize:
    """Width, spatial and temporal depth, heads and MLP width of a VideoPrism encoder."""

    hidden: int
    spatial: int
    temporal: int
    heads: int
    mlp: int

    @property
    def dims(self) -> tuple[int, int]:
        """``(hidden, spatial_layers)``."""
        return (self.hidden, self.spatial)


# google/videoprism-{base-f16r288,large-f8r288} (configs of the transformers conversions)
VIDEOPRISM_SIZES: dict[str, PrismSize] = {
    "videoprism_tiny": PrismSize(64, 2, 1, 2, 128),
    "videoprism_b": PrismSize(768, 12, 4, 12, 3072),
    "videoprism_l": PrismSize(1024, 24, 4, 16, 4096),
}


class VideoPrismClassifier(TokenPoolingClassifier):
    """VideoPrism encoder + attention (or mean) pooling + :class:`VideoHead`.

    The encoder is ``vision_model.*`` as in ``VideoPrismForVideoClassification``; its pooling
    head is ``pooler.*``/``pooler_norm.*`` and the classifier ``head.*``.
    """

    family = "videoprism"
    backbone_prefix = "vision_model"
    hf_model_types = ("videoprism_vision_model",)
    hf_arch_fields = ("hidden_size", "num_spatial_layers", "num_temporal_layers",
                      "num_attention_heads", "intermediate_size", "tubelet_size")  # fmt: skip
    hf_base_roots = ("spatial_embeddings.", "temporal_embeddings.", "spatial_layers.",
                     "temporal_layers.", "layernorm1.", "layernorm2.")  # fmt: skip

    def __init__(
        self, config: VideoPrismVisionConfig, num_classes: int, head: HeadSpec, drop_path: float
    ) -> None:
        super().__init__()
        from transformers import VideoPrismVisionModel
        from transformers.models.videoprism.modeling_videoprism import (
            VideoPrismLayerNorm,
            VideoPrismMultiheadAttentionPoolingHead,
        )

        self.vision_model = VideoPrismVisionModel(config)
        self.attentive = head.pool != "linear"
        if self.attentive:
            self.pooler = VideoPrismMultiheadAttentionPoolingHead(config)
            self.pooler_norm = VideoPrismLayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.pooler.apply(self.vision_model._init_weights)
            self.pooler_norm.apply(self.vision_model._init_weights)
        else:
            self.fc_norm = nn.LayerNorm(config.hidden_size)
        self.head = VideoHead(config.hidden_size, num_classes, head)
        self.spatial_layers = config.num_spatial_layers
        self.num_layers = config.num_spatial_layers + config.num_temporal_layers
        self.num_frames = config.num_frames
        self.image_size = square_side(config.image_size)

    @staticmethod
    def position_grids_for(num_frames: int, image_size: int) -> dict[str, tuple[int, ...]]:
        """Token grids of the spatial ``(h, w)`` and temporal ``(t,)`` position tables."""
        side = image_size // PATCH_SIZE
        return {
            "vision_model.spatial_embeddings.position_embeddings": (side, side),
            "vision_model.temporal_embeddings.position_embeddings": (num_frames,),
        }

    def forward_tokens(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> encoder tokens ``[B, T * (H/18) * (W/18), D]``."""
        check_clip_shape(video, self.num_frames, self.image_size, self.family)
        pixels = video.permute(0, 2, 1, 3, 4)
        return self.vision_model(pixel_values_videos=pixels).last_hidden_state

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, N, D]`` -> ``[B, D]``: attention pooling + norm, or mean + ``fc_norm``."""
        if self.attentive:
            return self.pooler_norm(self.pooler(tokens)[0]).squeeze(1)
        return self.fc_norm(tokens.mean(dim=1))

    def layer_id(self, param_name: str) -> int:
        """0 = patch/spatial embedding, then spatial layers, then temporal layers (the temporal
        table with the first of them, each final norm with the last layer before it);
        ``L + 1`` = pooler, norms after it and head."""
        name = param_name.removeprefix("vision_model.")
        if name.startswith("spatial_embeddings."):
            return 0
        if name.startswith("spatial_layers."):
            return int(name.split(".")[1]) + 1
        if name.startswith("layernorm1."):
            return self.spatial_layers
        if name.startswith("temporal_embeddings."):
            return self.spatial_layers + 1
        if name.startswith("temporal_layers."):
            return self.spatial_layers + int(name.split(".")[1]) + 1
        if name.startswith("layernorm2."):
            return self.num_layers
        return self.num_layers + 1

    def no_weight_decay(self) -> set[str]:
        """Norms, biases, position tables and the pooler's query and scale."""
        names = dict(self.named_parameters()).keys()
        extra = {"pooler.pooling_attention_query", "pooler.per_dim_scale"}
        return super().no_weight_decay() | (extra & names)


def videoprism_config(
    num_frames: int, image_size: int, size: PrismSize, eager_attention: bool = False
) -> VideoPrismVisionConfig:
    """The transformers config of a VideoPrism classifier for ``num_frames`` x ``image_size``².

    ``eager_attention`` is accepted for the model cards; VideoPrism's soft-capped attention is
    always computed eagerly (transformers has no SDPA path for it)."""
    if image_size % PATCH_SIZE:
        raise ModelError(f"VideoPrism needs a size divisible by {PATCH_SIZE}; got {image_size}px")
    from transformers import VideoPrismVisionConfig

    return VideoPrismVisionConfig(
        image_size=image_size,
        num_frames=num_frames,
        tubelet_size=[1, PATCH_SIZE, PATCH_SIZE],
        hidden_size=size.hidden,
        num_spatial_layers=size.spatial,
        num_temporal_layers=size.temporal,
        num_attention_heads=size.heads,
        intermediate_size=size.mlp,
        attn_implementation="eager",  # type: ignore[call-arg]  # a PretrainedConfig kwarg
    )


build_videoprism = hf_builder(VideoPrismClassifier, videoprism_config)
