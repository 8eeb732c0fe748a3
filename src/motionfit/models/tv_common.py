"""What the torchvision video families share: :class:`TorchvisionVideoClassifier`.

Each backbone keeps torchvision's own modules and parameter names (so torchvision checkpoints
load as they are) with its classifier replaced by the motionfit :class:`VideoHead`; its depth
map for layer-wise LR decay is given as parameter-name prefixes.
"""

from __future__ import annotations

import torch
from torch import nn

from motionfit.models.base import VideoClassifier
from motionfit.models.head import HeadSpec, VideoHead


class TorchvisionVideoClassifier(VideoClassifier):
    """A torchvision video backbone (classifier removed) followed by a :class:`VideoHead`.

    Args:
        backbone: module mapping ``[B, C, T, H, W]`` to pooled features ``[B, feature_dim]``.
        feature_dim: width of the pooled features.
        num_classes: classes of the new head.
        head: the head's dropout and hidden layer.
        embedding_prefixes: parameter-name prefixes of the patch/position embeddings (depth 0).
        block_prefixes: for each block in order, the prefixes of its parameters (depth 1..L).
        extra_no_decay: name prefixes of further parameters without weight decay.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        head: HeadSpec,
        embedding_prefixes: tuple[str, ...],
        block_prefixes: list[tuple[str, ...]],
        extra_no_decay: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = VideoHead(feature_dim, num_classes, head)
        self.num_layers = len(block_prefixes)
        self._embedding_prefixes = embedding_prefixes
        self._block_prefixes = block_prefixes
        self._extra_no_decay = extra_no_decay

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> pooled features ``[B, D]`` (the backbone's own pooling)."""
        return self.backbone(video)

    def layer_id(self, param_name: str) -> int:
        """0 for embeddings, ``i + 1`` for block ``i``, ``num_layers + 1`` for the final norm
        and the head."""
        if param_name.startswith(self._embedding_prefixes):
            return 0
        for index, prefixes in enumerate(self._block_prefixes):
            if param_name.startswith(prefixes):
                return index + 1
        return self.num_layers + 1

    def no_weight_decay(self) -> set[str]:
        """Norms, biases, relative position tables, tokens, and the family's position
        embeddings."""
        extra = {n for n, _ in self.named_parameters() if n.startswith(self._extra_no_decay)}
        return super().no_weight_decay() | extra
