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
from motionfit.models.base import VideoClassifier
from motionfit.models.head import VideoHead
from motionfit.models.hf_videomae import ViTSize, check_clip_shape
from motionfit.models.registry import HeadSpec

if TYPE_CHECKING:  # transformers loads in ~2 s: only the models that use it import it
    from transformers import TimesformerConfig, TimesformerModel

PATCH_SIZE = 16

TIMESFORMER_SIZES: dict[str, ViTSize] = {
    "timesformer_tiny": ViTSize(hidden=96, layers=2, heads=4, mlp=192),
    "timesformer_b": ViTSize(hidden=768, layers=12, heads=12, mlp=3072),
}


class TimeSformerClassifier(VideoClassifier):
    """TimeSformer encoder + CLS token + :class:`VideoHead`.

    Parameter names follow ``TimesformerForVideoClassification`` (``timesformer.*``) so HF
    checkpoints load without renaming; the classifier is ``head.*``.
    """

    family = "timesformer"
    backbone_prefix = "timesformer"

    def __init__(
        self, config: TimesformerConfig, num_classes: int, head: HeadSpec, drop_path: float
    ) -> None:
        super().__init__()
        from transformers import TimesformerModel

        self.timesformer = TimesformerModel(config)
        _set_drop_path(self.timesformer, drop_path)
        self.head = VideoHead(config.hidden_size, num_classes, head)
        self.num_layers = config.num_hidden_layers
        self.num_frames = config.num_frames
        self.image_size = config.image_size

    @property
    def config(self) -> TimesformerConfig:
        """The transformers config of the encoder."""
        return self.timesformer.config

    @staticmethod
    def position_grids_for(num_frames: int, image_size: int) -> dict[str, tuple[int, ...]]:
        """Grids of the learned tables of a model at this clip shape: spatial ``(h, w)`` (after
        one CLS entry) and time ``(t,)``."""
        side = image_size // PATCH_SIZE
        return {
            "timesformer.embeddings.position_embeddings": (side, side),
            "timesformer.embeddings.time_embeddings": (num_frames,),
        }

    def position_grids(self) -> dict[str, tuple[int, ...]]:
        """This model's :meth:`position_grids_for`; a checkpoint's tables are resized to them."""
        return self.position_grids_for(self.num_frames, self.image_size)

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> the normalized CLS token ``[B, D]``."""
        check_clip_shape(video, self.num_frames, self.image_size, self.family)
        tokens = self.timesformer(pixel_values=video.permute(0, 2, 1, 3, 4)).last_hidden_state
        return tokens[:, 0]

    def layer_id(self, param_name: str) -> int:
        """0 = patch/position/time embeddings and CLS, ``i + 1`` = encoder layer ``i``,
        ``L + 1`` = final norm and head."""
        if param_name.startswith("timesformer.embeddings."):
            return 0
        if param_name.startswith("timesformer.encoder.layer."):
            return int(param_name.split(".")[3]) + 1
        return self.num_layers + 1


def build_timesformer(
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
    *,
    size: ViTSize,
    eager_attention: bool = False,
) -> TimeSformerClassifier:
    """A randomly initialized TimeSformer classifier for ``num_frames`` x ``image_size``².

    ``eager_attention`` is accepted for a uniform builder interface: transformers' TimeSformer
    always computes attention with plain matmuls, which ``torch.utils.flop_counter`` counts.
    """
    if image_size % PATCH_SIZE:
        raise ModelError(f"TimeSformer needs a size divisible by {PATCH_SIZE}; got {image_size}")
    from transformers import TimesformerConfig

    config = TimesformerConfig(
        num_frames=num_frames,
        image_size=image_size,
        patch_size=PATCH_SIZE,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.mlp,
        attention_type="divided_space_time",
    )
    return TimeSformerClassifier(config, num_classes, head, drop_path)


def _set_drop_path(model: TimesformerModel, rate: float) -> None:
    # transformers 5.23 types TimesformerConfig.drop_path_rate as int and its strict config
    # rejects 0.1, so the per-layer drop path modules are set here (same linear rule as
    # transformers and the TimeSformer repo), with torchvision's StochasticDepth.
    layers = model.encoder.layer
    rates = torch.linspace(0, rate, len(layers), device="cpu").tolist()
    for layer, layer_rate in zip(layers, rates, strict=True):
        layer.drop_path = StochasticDepth(layer_rate, "row") if layer_rate > 0 else nn.Identity()
