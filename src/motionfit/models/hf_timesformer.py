"""TimeSformer (transformers ``TimesformerModel``, divided space-time attention) as a
:class:`VideoClassifier`.

The CLS token after the final layer norm is classified by a :class:`VideoHead`, as in
``TimesformerForVideoClassification``. transformers' attention layers read the frame count and
size from the config, so a model runs at exactly the clip shape it was built for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from motionfit.errors import ModelError
from motionfit.models.family import ViTSize
from motionfit.models.head import HeadSpec
from motionfit.models.hf_common import (
    PATCH_SIZE,
    HFVideoClassifier,
    check_clip_shape,
    drop_path_rates,
    hf_builder,
)

if TYPE_CHECKING:  # transformers loads in ~2 s: only the models that use it import it
    from transformers import TimesformerConfig, TimesformerModel

TIMESFORMER_SIZES: dict[str, ViTSize] = {
    "timesformer_tiny": ViTSize(hidden=96, layers=2, heads=4, mlp=192),
    "timesformer_b": ViTSize(hidden=768, layers=12, heads=12, mlp=3072),
}


class TimeSformerClassifier(HFVideoClassifier):
    """TimeSformer encoder + CLS token + :class:`VideoHead`.

    Parameter names follow ``TimesformerForVideoClassification`` (``timesformer.*``) so HF
    checkpoints load without renaming; the classifier is ``head.*``.
    """

    family = "timesformer"
    backbone_prefix = "timesformer"
    hf_model_types = ("timesformer",)
    hf_arch_fields = ("hidden_size", "num_hidden_layers", "num_attention_heads",
                      "intermediate_size", "patch_size", "attention_type")  # fmt: skip

    def __init__(
        self, config: TimesformerConfig, num_classes: int, head: HeadSpec, drop_path: float
    ) -> None:
        super().__init__()
        from transformers import TimesformerModel

        self.timesformer = TimesformerModel(config)
        _set_drop_path(self.timesformer, drop_path)
        self.add_vit_head(config, num_classes, head)

    @staticmethod
    def position_grids_for(num_frames: int, image_size: int) -> dict[str, tuple[int, ...]]:
        """Grids of the learned tables of a model at this clip shape: spatial ``(h, w)`` (after
        one CLS entry) and time ``(t,)``."""
        side = image_size // PATCH_SIZE
        return {
            "timesformer.embeddings.position_embeddings": (side, side),
            "timesformer.embeddings.time_embeddings": (num_frames,),
        }

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> the normalized CLS token ``[B, D]``."""
        check_clip_shape(video, self.num_frames, self.image_size, self.family)
        tokens = self.timesformer(pixel_values=video.permute(0, 2, 1, 3, 4)).last_hidden_state
        return tokens[:, 0]


def timesformer_config(
    num_frames: int, image_size: int, size: ViTSize, eager_attention: bool = False
) -> TimesformerConfig:
    """The transformers config of a TimeSformer classifier for ``num_frames`` x ``image_size``².

    ``eager_attention`` is accepted for a uniform builder interface: transformers' TimeSformer
    always computes attention with plain matmuls, which ``torch.utils.flop_counter`` counts.
    """
    if image_size % PATCH_SIZE:
        raise ModelError(f"TimeSformer needs a size divisible by {PATCH_SIZE}; got {image_size}")
    from transformers import TimesformerConfig

    return TimesformerConfig(
        num_frames=num_frames,
        image_size=image_size,
        patch_size=PATCH_SIZE,
        intermediate_size=size.mlp,
        attention_type="divided_space_time",
        **size.hf_fields(),
    )


build_timesformer = hf_builder(TimeSformerClassifier, timesformer_config)


def _set_drop_path(model: TimesformerModel, rate: float) -> None:
    # transformers 5.23 types TimesformerConfig.drop_path_rate as int and its strict config
    # rejects 0.1, so the per-layer drop path modules are set here (same linear rule as
    # transformers and the TimeSformer repo), with torchvision's StochasticDepth.
    layers = model.encoder.layer
    for layer, layer_rate in zip(layers, drop_path_rates(rate, len(layers)), strict=True):
        layer.drop_path = StochasticDepth(layer_rate, "row") if layer_rate > 0 else nn.Identity()
