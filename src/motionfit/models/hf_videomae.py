"""VideoMAE (transformers ``VideoMAEModel``) as a :class:`VideoClassifier`.

Fine-tuning follows the VideoMAE recipe: the encoder tokens are mean-pooled, normalized by
``fc_norm`` and classified by a :class:`VideoHead`. The model is fixed to the frame count and
size it was built for (its position table covers exactly that token grid).
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
    TUBELET_SIZE,
    HFVideoClassifier,
    check_clip_shape,
    check_tubelet_grid,
    drop_path_rates,
    hf_builder,
    videomae_config,
)

if TYPE_CHECKING:  # transformers loads in ~2 s: only the models that use it import it
    from transformers import VideoMAEConfig, VideoMAEModel


VIDEOMAE_SIZES: dict[str, ViTSize] = {
    "videomae_tiny": ViTSize(hidden=128, layers=2, heads=4, mlp=256),
    "videomae_s": ViTSize(hidden=384, layers=12, heads=6, mlp=1536),
    "videomae_b": ViTSize(hidden=768, layers=12, heads=12, mlp=3072),
    "videomae_l": ViTSize(hidden=1024, layers=24, heads=16, mlp=4096),
}


class VideoMAEClassifier(HFVideoClassifier):
    """VideoMAE encoder + mean pooling + ``fc_norm`` + :class:`VideoHead`.

    Parameter names follow transformers' ``VideoMAEForVideoClassification`` (``videomae.*``,
    ``fc_norm.*``) so HF checkpoints load without renaming; the classifier is ``head.*``.
    """

    family = "videomae"
    backbone_prefix = "videomae"
    hf_model_types = ("videomae",)
    hf_arch_fields = ("hidden_size", "num_hidden_layers", "num_attention_heads",
                      "intermediate_size", "patch_size", "tubelet_size")  # fmt: skip
    # HF VideoMAE checkpoints (and transformers 5's save_pretrained) name the query/value biases
    # q_bias/v_bias; transformers renames them on load (its conversion_mapping.py), as we do.
    hf_renames = (
        (".attention.attention.q_bias", ".attention.attention.query.bias"),
        (".attention.attention.v_bias", ".attention.attention.value.bias"),
    )

    def __init__(
        self, config: VideoMAEConfig, num_classes: int, head: HeadSpec, drop_path: float
    ) -> None:
        super().__init__()
        from transformers import VideoMAEModel

        self.videomae = VideoMAEModel(config)
        _add_drop_path(self.videomae, drop_path)
        self.fc_norm = nn.LayerNorm(config.hidden_size)
        self.add_vit_head(config, num_classes, head)

    @staticmethod
    def position_grids_for(num_frames: int, image_size: int) -> dict[str, tuple[int, ...]]:
        """Token grid ``(t, h, w)`` of the position table of a model at this clip shape (the
        default table is a fixed sinusoid and is not saved; a learned table from a checkpoint is
        resized to this grid)."""
        side = image_size // PATCH_SIZE
        return {"videomae.embeddings.position_embeddings": (num_frames // TUBELET_SIZE, side, side)}

    def set_position_table(self, table: torch.Tensor) -> None:
        """Replace the fixed sinusoid table by ``table`` ``[1, t*h*w, D]`` (e.g. learned weights
        from a checkpoint). It becomes a persistent buffer, so it is saved with the model; HF's
        forward detaches it, so it stays fixed during training."""
        embeddings = self.videomae.embeddings
        expected = tuple(embeddings.position_embeddings.shape)
        if tuple(table.shape) != expected:
            raise ModelError(f"position table {tuple(table.shape)} does not fit {expected}")
        if "position_embeddings" not in dict(embeddings.named_buffers(recurse=False)):
            del embeddings.position_embeddings  # a plain tensor attribute in transformers
        embeddings.register_buffer("position_embeddings", table.detach().clone().float())

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> mean of all tokens after ``fc_norm``, ``[B, D]``."""
        check_clip_shape(video, self.num_frames, self.image_size, self.family)
        tokens = self.videomae(pixel_values=video.permute(0, 2, 1, 3, 4)).last_hidden_state
        return self.fc_norm(tokens.mean(dim=1))


def videomae_model_config(
    num_frames: int, image_size: int, size: ViTSize, eager_attention: bool = False
) -> VideoMAEConfig:
    """The transformers config of a VideoMAE classifier for ``num_frames`` x ``image_size``².

    ``eager_attention`` builds plain matmul attention instead of SDPA (same results; needed by
    ``torch.utils.flop_counter``, which does not count SDPA on CPU).
    """
    check_tubelet_grid("VideoMAE", num_frames, image_size)
    return videomae_config(
        num_frames,
        image_size,
        size,
        attn_implementation="eager" if eager_attention else "sdpa",
    )


build_videomae = hf_builder(VideoMAEClassifier, videomae_model_config)


def _add_drop_path(encoder: VideoMAEModel, rate: float) -> None:
    # Hand-written: transformers' VideoMAE has no stochastic depth. Drop path goes after the
    # parameter-free dropout that ends each residual branch (attention and MLP), so parameter
    # names stay those of HF checkpoints; rates rise linearly with depth as in VideoMAE/timm.
    layers = encoder.encoder.layer
    for layer, layer_rate in zip(layers, drop_path_rates(rate, len(layers)), strict=True):
        if layer_rate > 0:
            for branch in (layer.get_submodule("attention.output"), layer.get_submodule("output")):
                dropout = branch.get_submodule("dropout")
                branch.dropout = nn.Sequential(dropout, StochasticDepth(layer_rate, "row"))
