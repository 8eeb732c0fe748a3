"""VideoMAE (transformers ``VideoMAEModel``) as a :class:`VideoClassifier`.

Fine-tuning follows the VideoMAE recipe: the encoder tokens are mean-pooled, normalized by
``fc_norm`` and classified by a :class:`VideoHead`. The model is fixed to the frame count and
size it was built for (its position table covers exactly that token grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from motionfit.errors import ModelError
from motionfit.models.base import VideoClassifier
from motionfit.models.head import VideoHead
from motionfit.models.registry import HeadSpec

if TYPE_CHECKING:  # transformers loads in ~2 s: only the models that use it import it
    from transformers import VideoMAEConfig, VideoMAEModel

PATCH_SIZE = 16
TUBELET_SIZE = 2


@dataclass(frozen=True)
class ViTSize:
    """Width, depth, heads and MLP width of a ViT encoder."""

    hidden: int
    layers: int
    heads: int
    mlp: int

    @property
    def dims(self) -> tuple[int, int]:
        """``(hidden, layers)``, as HF configs name them ``hidden_size``/``num_hidden_layers``."""
        return (self.hidden, self.layers)


VIDEOMAE_SIZES: dict[str, ViTSize] = {
    "videomae_tiny": ViTSize(hidden=128, layers=2, heads=4, mlp=256),
    "videomae_s": ViTSize(hidden=384, layers=12, heads=6, mlp=1536),
    "videomae_b": ViTSize(hidden=768, layers=12, heads=12, mlp=3072),
    "videomae_l": ViTSize(hidden=1024, layers=24, heads=16, mlp=4096),
}


class VideoMAEClassifier(VideoClassifier):
    """VideoMAE encoder + mean pooling + ``fc_norm`` + :class:`VideoHead`.

    Parameter names follow transformers' ``VideoMAEForVideoClassification`` (``videomae.*``,
    ``fc_norm.*``) so HF checkpoints load without renaming; the classifier is ``head.*``.
    """

    family = "videomae"
    backbone_prefix = "videomae"

    def __init__(
        self, config: VideoMAEConfig, num_classes: int, head: HeadSpec, drop_path: float
    ) -> None:
        super().__init__()
        from transformers import VideoMAEModel

        self.videomae = VideoMAEModel(config)
        _add_drop_path(self.videomae, drop_path)
        self.fc_norm = nn.LayerNorm(config.hidden_size)
        self.head = VideoHead(config.hidden_size, num_classes, head)
        self.num_layers = config.num_hidden_layers
        self.num_frames = config.num_frames
        self.image_size = config.image_size

    @property
    def config(self) -> VideoMAEConfig:
        """The transformers config of the encoder."""
        return self.videomae.config

    @staticmethod
    def position_grids_for(num_frames: int, image_size: int) -> dict[str, tuple[int, ...]]:
        """Token grid ``(t, h, w)`` of the position table of a model at this clip shape."""
        side = image_size // PATCH_SIZE
        return {"videomae.embeddings.position_embeddings": (num_frames // TUBELET_SIZE, side, side)}

    def position_grids(self) -> dict[str, tuple[int, ...]]:
        """This model's :meth:`position_grids_for` (the default table is a fixed sinusoid and is
        not saved; a learned table from a checkpoint is resized to this grid)."""
        return self.position_grids_for(self.num_frames, self.image_size)

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

    def layer_id(self, param_name: str) -> int:
        """0 = patch embedding, ``i + 1`` = encoder layer ``i``, ``L + 1`` = fc_norm and head."""
        if param_name.startswith("videomae.embeddings."):
            return 0
        if param_name.startswith("videomae.encoder.layer."):
            return int(param_name.split(".")[3]) + 1
        return self.num_layers + 1


def build_videomae(
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
    *,
    size: ViTSize,
    eager_attention: bool = False,
) -> VideoMAEClassifier:
    """A randomly initialized VideoMAE classifier for ``num_frames`` x ``image_size``².

    ``eager_attention`` builds plain matmul attention instead of SDPA (same results; needed by
    ``torch.utils.flop_counter``, which does not count SDPA on CPU).
    """
    if num_frames % TUBELET_SIZE or image_size % PATCH_SIZE:
        raise ModelError(
            f"VideoMAE needs frames divisible by {TUBELET_SIZE} and a size divisible by "
            f"{PATCH_SIZE}; got {num_frames} frames at {image_size}px"
        )
    from transformers import VideoMAEConfig

    config = VideoMAEConfig(
        num_frames=num_frames,
        image_size=image_size,
        patch_size=PATCH_SIZE,
        tubelet_size=TUBELET_SIZE,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.mlp,
        use_mean_pooling=True,
        attn_implementation="eager" if eager_attention else "sdpa",
    )
    return VideoMAEClassifier(config, num_classes, head, drop_path)


def _add_drop_path(encoder: VideoMAEModel, rate: float) -> None:
    # Hand-written: transformers' VideoMAE has no stochastic depth. Drop path goes after the
    # parameter-free dropout that ends each residual branch (attention and MLP), so parameter
    # names stay those of HF checkpoints; rates rise linearly with depth as in VideoMAE/timm.
    layers = encoder.encoder.layer
    rates = torch.linspace(0, rate, len(layers), device="cpu").tolist()
    for layer, layer_rate in zip(layers, rates, strict=True):
        if layer_rate > 0:
            for branch in (layer.attention.output, layer.output):
                branch.dropout = nn.Sequential(branch.dropout, StochasticDepth(layer_rate, "row"))


def check_clip_shape(video: torch.Tensor, num_frames: int, image_size: int, family: str) -> None:
    """Raise a :class:`ModelError` unless ``video`` is ``[B, 3, num_frames, size, size]``."""
    if video.ndim != 5 or tuple(video.shape[1:]) != (3, num_frames, image_size, image_size):
        raise ModelError(
            f"{family} model built for [B, 3, {num_frames}, {image_size}, {image_size}] clips "
            f"got {list(video.shape)}; build it with the clip's frames and size"
        )
