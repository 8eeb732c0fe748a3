"""The classification head shared by every family: dropout, optional hidden layer, linear."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn


@dataclass(frozen=True)
class HeadSpec:
    """The classification head put on every backbone."""

    dropout: float = 0.5
    hidden_dim: int = 0
    pool: str | None = None  # "linear" or "attentive" where the family has both; None = default


class VideoHead(nn.Module):
    """Pooled features ``[B, D]`` -> logits ``[B, num_classes]``.

    Pooling (global average over space-time tokens, or the CLS token) is done by the backbone
    adapter, because only it knows its token layout.
    """

    def __init__(self, in_features: int, num_classes: int, spec: HeadSpec) -> None:
        super().__init__()
        self.in_features = in_features
        self.num_classes = num_classes
        layers: list[nn.Module] = [nn.Dropout(spec.dropout)]
        width = in_features
        if spec.hidden_dim:
            layers += [nn.Linear(width, spec.hidden_dim), nn.GELU(), nn.Dropout(spec.dropout)]
            width = spec.hidden_dim
        self.classifier_in = width
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Small init of the last layer, as fine-tuning recipes do (trunc-normal std 0.02)."""
        last = cast(nn.Linear, self.layers[-1])
        nn.init.trunc_normal_(last.weight, std=0.02)
        nn.init.zeros_(last.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Classify pooled features."""
        return self.layers(features)
