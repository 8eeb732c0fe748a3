"""What a model family declares about itself: its capabilities, the advice ``recommend`` and
``plan`` give about it, and the facts of each set of published weights.

A family is one module in :mod:`motionfit.models.families` that registers a :class:`Family` and
its models' :class:`~motionfit.models.registry.ModelSpec`. The declarations are data and import
no torch (the registry and the config read them without loading a network); a family's
network lives in its own module, imported when a model is built. Anchors: timm's
``PretrainedCfg`` (facts about a set of weights live with the weights) and its models'
``set_grad_checkpointing``/``group_matcher`` (a model says what it can do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PRIORITIES = ("accuracy", "speed", "stability")


@dataclass(frozen=True)
class Capabilities:
    """What a family's models can do.

    Attributes:
        grad_checkpointing: ``train.grad_checkpointing`` recomputes the encoder's activations
            (the classifier implements ``set_grad_checkpointing``).
        channels_last: ``train.channels_last`` (channels-last 3-D memory) suits its convolutions.
        lora_targets: the modules ``model.lora`` adapts by default, as PEFT's
            ``target_modules`` reads them (name suffixes, or one regular expression matched
            against whole names): the attention projections of a transformer, the
            convolutions of a CNN.
        attentive_head: ``model.head=attentive`` (a trainable attention pooler over tokens).
        frozen_features: made to be used frozen (probes on cached features, LoRA).
        position_tables: learned position tables sized by the clip length (adapted when the
            clip differs from the weights').
        eager_attention: can be built with plain matmul attention (FLOP counting on CPU).
        any_clip_length: takes clips of any number of frames (convolutions and global
            pooling over time): an export keeps the frames axis dynamic.
        lora_bypassed: module name suffixes whose weights the forward reads directly instead
            of calling the module (torchvision's Swin attention: qkv, proj): a LoRA adapter
            there would never run, so ``model.lora.targets`` naming them is refused.
    """

    grad_checkpointing: bool = False
    channels_last: bool = False
    lora_targets: str | tuple[str, ...] = ()
    attentive_head: bool = False
    frozen_features: bool = False
    position_tables: bool = False
    eager_attention: bool = False
    any_clip_length: bool = False
    lora_bypassed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Advice:
    """What ``recommend`` and ``plan`` say about a family.

    Attributes:
        title: the family's name for people ("Video Swin").
        reason: why to pick it, one clause.
        rank: its place in the order of each priority of :data:`PRIORITIES` (0 = first).
    """

    title: str
    reason: str
    rank: Mapping[str, int]

    def __post_init__(self) -> None:
        missing = [p for p in PRIORITIES if p not in self.rank]
        if missing:
            raise ValueError(f"{self.title}: advice ranks no {', '.join(missing)}")


@dataclass(frozen=True)
class WeightsConfig:
    """Facts about one set of published weights (timm's ``PretrainedCfg``).

    Attributes:
        source: how ``model.pretrained`` names them (``torchvision:KINETICS400_V1``,
            ``hf:MCG-NJU/videomae-base-finetuned-kinetics``).
        frames: clip length they were trained with; ``stride`` the frame stride (None when
            ``segments``: one frame from each of ``frames`` equal segments, as on SSv2).
        size: input size they were trained at.
        classes: the label set of their classifier (``kinetics400``, ``ssv2``), or None for
            self-supervised weights without one; ``num_classes`` its size.
        note: anything else a user should know (one clause).
    """

    source: str
    frames: int
    size: int
    stride: int | None = None
    segments: bool = False
    classes: str | None = None
    num_classes: int = 0
    note: str = ""


@dataclass(frozen=True)
class Family:
    """A model family: what its models can do and what to say about them."""

    name: str
    advice: Advice
    capabilities: Capabilities = field(default_factory=Capabilities)


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

    def hf_fields(self) -> dict[str, Any]:
        """Width, depth and heads under the names transformers' ViT configs give them."""
        return {
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
        }
