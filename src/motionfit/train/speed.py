"""Speed and memory switches of ``train``: ``torch.compile``, channels-last memory for the 3-D
CNNs, gradient checkpointing for the transformers' encoders. None changes what is computed:
the loss is the same to float tolerance with and without each (``tests/test_speed.py``);
``benchmarks/speed.py`` measures step time and peak memory."""

from __future__ import annotations

import torch
from torch import nn

from motionfit.config import TrainConfig
from motionfit.errors import ConfigError

CHANNELS_LAST_FAMILIES = frozenset({"cnn"})
CHECKPOINTING_FAMILIES = {"videomae": "videomae", "timesformer": "timesformer"}  # -> encoder


def apply_speed_switches(model: nn.Module, family: str, cfg: TrainConfig) -> nn.Module:
    """Apply ``train.channels_last``, ``train.grad_checkpointing`` and ``train.compile`` to
    ``model`` in place (its parameter names stay as they are); returns it. A switch the
    model's family cannot use is a :class:`ConfigError`."""
    if cfg.channels_last:
        if family not in CHANNELS_LAST_FAMILIES:
            raise ConfigError(
                f"config key 'train.channels_last': for the 3-D CNN families only, not {family}"
            )
        model.to(memory_format=torch.channels_last_3d)
    if cfg.grad_checkpointing:
        encoder = CHECKPOINTING_FAMILIES.get(family)
        if encoder is None:
            raise ConfigError(
                "config key 'train.grad_checkpointing': for the "
                f"{', '.join(CHECKPOINTING_FAMILIES)} families only, not {family}"
            )
        getattr(model, encoder).gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    if cfg.compile:
        model.compile(backend=cfg.compile_backend)
    return model
