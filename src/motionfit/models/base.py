"""The interface every built model has, whatever its backbone."""

from __future__ import annotations

import torch
from torch import nn

from motionfit.models.head import VideoHead
from motionfit.models.weights import LoadReport


class VideoClassifier(nn.Module):
    """A backbone adapter plus a :class:`VideoHead`.

    ``forward`` takes float ``[B, C, T, H, W]`` and returns logits ``[B, num_classes]``;
    subclasses implement :meth:`forward_features` (pooled ``[B, D]``) in whatever layout their
    backbone wants, and describe their parameters for the optimizer:

    - :meth:`layer_id` maps a parameter name to its depth, 0 (patch/position embeddings) to
      ``num_layers + 1`` (the head), for layer-wise LR decay;
    - :meth:`no_weight_decay` names the parameters that take no weight decay (norms, biases,
      position embeddings, tokens).

    ``class_names`` names the classes of the logits in order (None: unknown); weights loaded
    into the model match their classifier rows to these names.
    """

    family: str = "generic"

    def __init__(self) -> None:
        super().__init__()
        self.num_layers: int = 0
        self.load_report: LoadReport | None = None
        self.class_names: tuple[str, ...] | None = None

    head: VideoHead

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> pooled features ``[B, D]``."""
        raise NotImplementedError

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` float -> logits ``[B, num_classes]``."""
        return self.head(self.forward_features(video))

    def layer_id(self, param_name: str) -> int:
        """Depth of a parameter for layer-wise LR decay (0 = embeddings, L+1 = head)."""
        if param_name.startswith("head."):
            return self.num_layers + 1
        return self.num_layers  # families without a depth map decay nothing but the head

    def adapt_pretrained_state(
        self, state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]
    ) -> list[str]:
        """Reshape tensors of a pretrained ``state`` whose shape depends on the clip (position
        tables) to this model's ``own``, in place; one line per adapted tensor. None here."""
        return []

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the encoder's activations in backward (``train.grad_checkpointing``), where
        the family declares it can."""
        raise NotImplementedError(f"{type(self).__name__} has no gradient checkpointing")

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that take no weight decay."""
        names = set()
        for name, param in self.named_parameters():
            if param.ndim <= 1 or name.endswith(".bias") or _is_embedding_or_token(name):
                names.add(name)
        return names


def _is_embedding_or_token(name: str) -> bool:
    lowered = name.lower()
    return any(
        key in lowered
        for key in (
            "pos_embed",
            "position",
            "cls_token",
            "mask_token",
            "relative_position_bias_table",
            "rel_pos",
            "time_embed",
        )
    )
