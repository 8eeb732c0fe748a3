"""Calls into a family's network module, imported on first use: the family declarations stay
free of torch (``motionfit models``, the config and ``plan`` never load a network)."""

from __future__ import annotations

from importlib import import_module
from typing import Any


def call(module: str, function: str, /, *args: Any, **kwargs: Any) -> Any:
    """``module.function(*args, **kwargs)``, importing ``module`` now."""
    return getattr(import_module(module), function)(*args, **kwargs)


def build_sized(
    module: str, function: str, table: str, size: str, /, *args: Any, **kwargs: Any
) -> Any:
    """``module.function(*args, size=module.table[size], **kwargs)``: a transformer builder
    given the encoder size its network module names ``size`` (``VIDEOMAE_SIZES['videomae_b']``)."""
    network = import_module(module)
    return getattr(network, function)(*args, size=getattr(network, table)[size], **kwargs)


def load_hf(model: Any, source: str) -> Any:
    """Load a hub id or ``save_pretrained`` folder into a transformers-family classifier
    (:func:`motionfit.models.hf_checkpoint.load_hf_pretrained`)."""
    return call("motionfit.models.hf_checkpoint", "load_hf_pretrained", model, source)
