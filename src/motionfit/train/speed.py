"""Speed and memory switches of ``train``: ``torch.compile``, channels-last memory for the 3-D
CNNs, gradient checkpointing for the transformers' encoders (under ``train.strategy=fsdp`` the
strategy checkpoints every family's blocks instead: :mod:`motionfit.train.fsdp`). None changes
what is computed: the loss is the same to float tolerance with and without each
(``tests/test_speed.py``); ``benchmarks/speed.py`` measures step time and peak memory."""

from __future__ import annotations

import torch

from motionfit.config import TrainConfig
from motionfit.errors import ConfigError
from motionfit.models.base import VideoClassifier
from motionfit.models.registry import ModelSpec, families_with


def apply_speed_switches(
    model: VideoClassifier, spec: ModelSpec, cfg: TrainConfig
) -> VideoClassifier:
    """Apply ``train.channels_last``, ``train.grad_checkpointing`` (left to the strategy under
    ``train.strategy=fsdp``) and ``train.compile`` to ``model`` in place (its parameter names
    stay as they are); returns it. A switch the
    model's family does not declare (:class:`~motionfit.models.family.Capabilities`) is a
    :class:`ConfigError`."""
    capabilities = spec.capabilities
    if cfg.channels_last:
        if not capabilities.channels_last:
            raise ConfigError(
                f"config key 'train.channels_last': for the {families_with('channels_last')} "
                f"families only, not {spec.family}"
            )
        model.to(memory_format=torch.channels_last_3d)
    if cfg.grad_checkpointing and cfg.strategy != "fsdp":
        if not capabilities.grad_checkpointing:
            raise ConfigError(
                "config key 'train.grad_checkpointing': for the "
                f"{families_with('grad_checkpointing')} families only, not {spec.family}"
            )
        model.set_grad_checkpointing(True)
    if cfg.compile:
        model.compile(backend=cfg.compile_backend)
    return model
