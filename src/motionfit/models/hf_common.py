"""What the HuggingFace (transformers) video families share.

:func:`check_clip_shape`, the
"``encoder.layer.N`` -> depth ``N + 1``" rule of layer-wise LR decay, :func:`videomae_config`
(used by fine-tuning and pretraining), :class:`HFVideoClassifier`, the base of every
transformers-backed classifier, and :class:`TokenPoolingClassifier`, the base of those with a
trainable token pooler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from motionfit.errors import ModelError
from motionfit.models.base import VideoClassifier
from motionfit.models.family import ViTSize
from motionfit.models.head import VideoHead

if TYPE_CHECKING:  # transformers loads in ~2 s: only the models that use it import it
    from transformers import VideoMAEConfig

    from motionfit.models.head import HeadSpec

Classifier = TypeVar("Classifier", bound="HFVideoClassifier")

PATCH_SIZE = 16
TUBELET_SIZE = 2


def check_clip_shape(video: torch.Tensor, num_frames: int, image_size: int, family: str) -> None:
    """Raise a :class:`ModelError` unless ``video`` is ``[B, 3, num_frames, size, size]``."""
    if video.ndim != 5 or tuple(video.shape[1:]) != (3, num_frames, image_size, image_size):
        raise ModelError(
            f"{family} model built for [B, 3, {num_frames}, {image_size}, {image_size}] clips "
            f"got {list(video.shape)}; build it with the clip's frames and size"
        )


def check_tubelet_grid(label: str, num_frames: int, image_size: int) -> None:
    """Raise a :class:`ModelError` unless the clip splits into 2-frame x 16-pixel tubelets."""
    if num_frames % TUBELET_SIZE or image_size % PATCH_SIZE:
        raise ModelError(
            f"{label} needs frames divisible by {TUBELET_SIZE} and a size divisible by "
            f"{PATCH_SIZE}; got {num_frames} frames at {image_size}px"
        )


def square_side(size: int | Sequence[int]) -> int:
    """A square input or patch size as one int (transformers' configs also allow ``(h, w)``)."""
    return size if isinstance(size, int) else int(size[0])


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic depth per layer, rising linearly from 0 to ``rate`` (VideoMAE, timm)."""
    return torch.linspace(0, rate, depth, device="cpu").tolist()


def encoder_layer_id(param_name: str, prefix: str, num_layers: int) -> int:
    """Depth of a ViT parameter named after ``prefix`` (e.g. ``videomae``): 0 = embeddings,
    ``N + 1`` = ``encoder.layer.N``, ``num_layers + 1`` = everything after the encoder."""
    if param_name.startswith((f"{prefix}.embeddings.", f"{prefix}.encoder.embeddings.")):
        return 0
    if param_name.startswith(f"{prefix}.encoder.layer."):
        return int(param_name.removeprefix(f"{prefix}.encoder.layer.").split(".")[0]) + 1
    return num_layers + 1


def videomae_config(
    num_frames: int, image_size: int, size: ViTSize, **extra: Any
) -> VideoMAEConfig:
    """transformers' ``VideoMAEConfig`` of a ``size`` encoder over 2x16x16 tubelets with mean
    pooling; ``extra`` adds fields (attention implementation, decoder)."""
    from transformers import VideoMAEConfig

    return VideoMAEConfig(
        num_frames=num_frames,
        image_size=image_size,
        patch_size=PATCH_SIZE,
        tubelet_size=TUBELET_SIZE,
        intermediate_size=size.mlp,
        **size.hf_fields(),
        use_mean_pooling=True,
        **extra,
    )


class HFVideoClassifier(VideoClassifier):
    """A transformers encoder stored as ``self.<backbone_prefix>`` + pooling + head.

    Subclasses set ``num_layers``, ``num_frames`` and ``image_size`` and describe how their HF
    checkpoints read (:mod:`motionfit.models.hf_checkpoint`): ``hf_model_types`` (the
    ``config.json`` model types they load), ``hf_arch_fields`` (fields a checkpoint must share),
    ``hf_base_roots`` (the key roots of the HF base model) and ``hf_renames`` (key suffixes
    transformers renames on load).
    """

    backbone_prefix: str = ""
    hf_model_types: tuple[str, ...] = ()
    hf_arch_fields: tuple[str, ...] = ()
    hf_base_roots: tuple[str, ...] = ("embeddings.", "encoder.", "layernorm.")
    hf_renames: tuple[tuple[str, str], ...] = ()
    num_frames: int
    image_size: int

    def add_vit_head(self, config: Any, num_classes: int, head: HeadSpec) -> None:
        """A :class:`VideoHead` on the encoder's width; depth, clip length and size read from
        a ViT-style transformers config (``num_hidden_layers``, ``num_frames``,
        ``image_size``)."""
        self.head = VideoHead(config.hidden_size, num_classes, head)
        self.num_layers = config.num_hidden_layers
        self.num_frames = config.num_frames
        self.image_size = config.image_size

    @property
    def base_model_prefix(self) -> str:
        """The attribute that holds the encoder, under transformers' name for it (PEFT's LoRA
        reads it)."""
        return self.backbone_prefix

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the encoder's activations in backward (transformers' gradient
        checkpointing, non-reentrant)."""
        encoder = getattr(self, self.backbone_prefix)
        if hasattr(encoder, "activation_checkpointing_enable"):  # its name from transformers 5.25
            if enable:
                encoder.activation_checkpointing_enable({"use_reentrant": False})
            else:
                encoder.activation_checkpointing_disable()
        elif enable:
            encoder.gradient_checkpointing_enable({"use_reentrant": False})
        else:
            encoder.gradient_checkpointing_disable()

    @property
    def config(self) -> Any:
        """The transformers config of the encoder."""
        return getattr(self, self.backbone_prefix).config

    @staticmethod
    def position_grids_for(num_frames: int, image_size: int) -> dict[str, tuple[int, ...]]:
        """Token grids of the learned position tables at this clip shape (none by default)."""
        return {}

    def position_grids(self) -> dict[str, tuple[int, ...]]:
        """This model's :meth:`position_grids_for`; a checkpoint's tables are resized to them."""
        return self.position_grids_for(self.num_frames, self.image_size)

    def set_position_table(self, table: torch.Tensor) -> None:
        """Install a checkpoint's learned table where the model has none as state."""
        raise ModelError(f"{self.family} model has no position table to replace")

    def layer_id(self, param_name: str) -> int:
        """0 = embeddings, ``i + 1`` = encoder layer ``i``, ``L + 1`` = the rest (norm, head)."""
        return encoder_layer_id(param_name, self.backbone_prefix, self.num_layers)


class TokenPoolingClassifier(HFVideoClassifier):
    """An encoder whose tokens a trainable pooler reduces before the head (V-JEPA 2,
    VideoPrism): a probe can train ``pool`` + ``head`` on cached :meth:`forward_tokens`."""

    def forward_tokens(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> encoder tokens ``[B, N, D]``."""
        raise NotImplementedError

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, N, D]`` -> pooled features ``[B, D]``."""
        raise NotImplementedError

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> pooled features ``[B, D]``."""
        return self.pool(self.forward_tokens(video))


def hf_builder(
    classifier: Callable[[Any, int, HeadSpec, float], Classifier],
    make_config: Callable[..., Any],
) -> Callable[..., Classifier]:
    """The registry builder of a transformers family: ``build(num_classes, num_frames,
    image_size, head, drop_path, *, size, eager_attention=False)`` -> a randomly initialized
    ``classifier(make_config(num_frames, image_size, size, eager_attention), num_classes, head,
    drop_path)``. ``eager_attention`` asks for plain matmul attention where the family has SDPA
    (``torch.utils.flop_counter`` does not count SDPA on CPU)."""

    def build(
        num_classes: int,
        num_frames: int,
        image_size: int,
        head: HeadSpec,
        drop_path: float,
        *,
        size: Any,
        eager_attention: bool = False,
    ) -> Classifier:
        """A randomly initialized classifier for ``num_frames`` x ``image_size``²."""
        config = make_config(num_frames, image_size, size, eager_attention)
        return classifier(config, num_classes, head, drop_path)

    return build
