"""The training-time options of ``model``: frozen weights and LoRA adapters, applied once after
the model is built and before the optimizer sees its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from motionfit.models.base import VideoClassifier
from motionfit.models.freeze import TrainableCount, count_trainable, freeze_model

if TYPE_CHECKING:
    from peft.tuners.lora import LoraModel

    from motionfit.config import ModelConfig


@dataclass
class Adapted:
    """What :func:`adapt_for_training` did: the trainable count, and PEFT's tuner when LoRA is
    on (pass it to :func:`motionfit.models.lora.merge_lora_file` after training)."""

    count: TrainableCount
    lora: LoraModel | None = None


def adapt_for_training(model: VideoClassifier, cfg: ModelConfig) -> Adapted:
    """Apply ``model.freeze`` and ``model.lora`` to ``model`` in place."""
    freeze_model(model, cfg.freeze)
    tuner = None
    if cfg.lora is not None:
        from motionfit.models.lora import add_lora
        from motionfit.models.registry import get_spec

        capabilities = get_spec(cfg.name).capabilities
        tuner = add_lora(model, cfg.lora, capabilities.lora_targets, capabilities.lora_bypassed)
    return Adapted(count=count_trainable(model), lora=tuner)
