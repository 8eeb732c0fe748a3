"""V-JEPA 2 (transformers ``VJEPA2Model``) as a :class:`VideoClassifier`.

The encoder is transformers' own; its 3-D rotary position embedding has no table, so any clip
length (a multiple of the tubelet, 2) and size (a multiple of the patch, 16) works and weights
trained at 64x256 load at 16x224 unchanged. The classifier is V-JEPA 2's attentive probe
(transformers' ``VJEPA2AttentivePooler``, named ``pooler.*`` as in
``VJEPA2ForVideoClassification``) or, with ``model.head=linear``, mean pooling + ``fc_norm``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from motionfit.models.family import ViTSize
from motionfit.models.head import HeadSpec, VideoHead
from motionfit.models.hf_common import (
    PATCH_SIZE,
    TUBELET_SIZE,
    TokenPoolingClassifier,
    check_clip_shape,
    check_tubelet_grid,
    encoder_layer_id,
    hf_builder,
)

if TYPE_CHECKING:
    from transformers import VJEPA2Config

# Sizes of the encoders transformers ships (facebook/vjepa2-vit{l,h,g}-fpc64-{256,384}); ViT-g's
# MLP ratio is 48/11 (vit_giant_xformers, facebookresearch/vjepa2 src/models/vision_transformer.py).
VJEPA2_SIZES: dict[str, ViTSize] = {
    "vjepa2_tiny": ViTSize(hidden=64, layers=2, heads=2, mlp=256),
    "vjepa2_l": ViTSize(hidden=1024, layers=24, heads=16, mlp=4096),
    "vjepa2_h": ViTSize(hidden=1280, layers=32, heads=16, mlp=5120),
    "vjepa2_g": ViTSize(hidden=1408, layers=40, heads=22, mlp=6144),
    "vjepa2_g384": ViTSize(hidden=1408, layers=40, heads=22, mlp=6144),
}


class VJEPA2Classifier(TokenPoolingClassifier):
    """V-JEPA 2 encoder + attentive (or mean) pooling + :class:`VideoHead`.

    Parameter names follow ``VJEPA2ForVideoClassification`` (``vjepa2.encoder.*``,
    ``pooler.*``), so HF checkpoints load without renaming; the classifier is ``head.*``.
    """

    family = "vjepa2"
    backbone_prefix = "vjepa2"
    hf_model_types = ("vjepa2",)
    hf_arch_fields = ("hidden_size", "num_hidden_layers", "num_attention_heads", "mlp_ratio",
                      "patch_size", "tubelet_size")  # fmt: skip
    hf_base_roots = ("encoder.", "predictor.")

    def __init__(
        self, config: VJEPA2Config, num_classes: int, head: HeadSpec, drop_path: float
    ) -> None:
        super().__init__()
        from transformers import VJEPA2Model
        from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2AttentivePooler

        config.drop_path_rate = drop_path  # transformers' own stochastic depth, rising with depth
        self.vjepa2 = VJEPA2Model(config)
        # the JEPA predictor is for pretraining only
        self.vjepa2.predictor = None  # type: ignore[assignment]
        self.attentive = head.pool != "linear"
        if self.attentive:
            self.pooler = VJEPA2AttentivePooler(config)
            self.pooler.apply(self.vjepa2._init_weights)
        else:
            self.fc_norm = nn.LayerNorm(config.hidden_size)
        self.head = VideoHead(config.hidden_size, num_classes, head)
        self.num_layers = config.num_hidden_layers
        self.num_frames = config.frames_per_clip
        self.image_size = config.crop_size

    def forward_tokens(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> encoder tokens ``[B, T/2 * (H/16) * (W/16), D]``."""
        check_clip_shape(video, self.num_frames, self.image_size, self.family)
        pixels = video.permute(0, 2, 1, 3, 4)
        return self.vjepa2.encoder(pixel_values_videos=pixels).last_hidden_state

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, N, D]`` -> ``[B, D]``: the attentive pooler, or mean + ``fc_norm``."""
        if self.attentive:
            return self.pooler(tokens)
        return self.fc_norm(tokens.mean(dim=1))

    def layer_id(self, param_name: str) -> int:
        """0 = patch embedding, ``i + 1`` = encoder layer ``i`` (the final norm goes with the
        last layer), ``L + 1`` = pooler, ``fc_norm`` and head."""
        if param_name.startswith("vjepa2.encoder.layernorm."):
            return self.num_layers
        return encoder_layer_id(param_name, self.backbone_prefix, self.num_layers)

    def no_weight_decay(self) -> set[str]:
        """Norms, biases and the pooler's query token."""
        names = dict(self.named_parameters()).keys()
        return super().no_weight_decay() | ({"pooler.query_tokens"} & names)


def vjepa2_config(
    num_frames: int, image_size: int, size: ViTSize, eager_attention: bool = False
) -> VJEPA2Config:
    """The transformers config of a V-JEPA 2 classifier for ``num_frames`` x ``image_size``²."""
    check_tubelet_grid("V-JEPA 2", num_frames, image_size)
    from transformers import VJEPA2Config

    return VJEPA2Config(
        crop_size=image_size,
        frames_per_clip=num_frames,
        patch_size=PATCH_SIZE,
        tubelet_size=TUBELET_SIZE,
        mlp_ratio=size.mlp / size.hidden,
        num_pooler_layers=1 if size.hidden < 256 else 3,  # 3: VJEPA2Config default, as released
        # the predictor is dropped after construction (pretraining only): build it minimal
        pred_hidden_size=32,
        pred_num_hidden_layers=1,
        pred_num_attention_heads=2,
        attn_implementation="eager" if eager_attention else "sdpa",  # type: ignore[call-arg]
        **size.hf_fields(),
    )


build_vjepa2 = hf_builder(VJEPA2Classifier, vjepa2_config)
