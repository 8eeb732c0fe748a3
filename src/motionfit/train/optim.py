"""Optimizer parameter groups: decoupled weight decay, no decay on norms/biases/position
embeddings/tokens, and layer-wise learning-rate decay (the same groups for a model that FSDP
has wrapped: the wrappers' name segments are dropped before a name is looked up)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch

from motionfit.config import OptimConfig

# name segments of the modules FSDP and activation checkpointing wrap a model's own in
WRAPPER_SEGMENTS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


@runtime_checkable
class LayeredModel(Protocol):
    """A model that describes its parameters to the optimizer: its depth (``num_layers``), the
    depth of each parameter (``layer_id``) and the parameters without weight decay (a
    ``VideoClassifier``, or a pretraining model)."""

    @property
    def num_layers(self) -> int:
        """Number of layers between the embeddings (depth 0) and the head (depth L + 1)."""
        ...

    def layer_id(self, param_name: str) -> int:
        """Depth of a parameter."""
        ...

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters trained without weight decay."""
        ...

    def named_parameters(self) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """``(name, parameter)`` pairs, as ``torch.nn.Module`` yields them."""
        ...


def param_groups(
    model: LayeredModel, lr: float, weight_decay: float, layer_decay: float = 1.0
) -> list[dict]:
    """One group per (depth, decay or not).

    A parameter at depth ``d`` (``model.layer_id``; 0 = embeddings, ``L + 1`` = head) gets
    ``lr * layer_decay ** (L + 1 - d)``; parameters in ``model.no_weight_decay()`` get no
    weight decay. Each group records ``lr_scale`` so schedules can scale the peak LR. Names
    are the model's own (:func:`original_name`), also inside FSDP's wrappers.
    """
    no_decay = model.no_weight_decay()
    top = model.num_layers + 1
    groups: dict[tuple[int, bool], dict] = {}
    for wrapped, param in model.named_parameters():
        if not param.requires_grad:
            continue
        name = original_name(wrapped)
        depth = model.layer_id(name) if layer_decay != 1.0 else top
        decays = name not in no_decay
        key = (depth, decays)
        if key not in groups:
            scale = layer_decay ** (top - depth)
            groups[key] = {
                "params": [],
                "names": [],
                "lr": lr * scale,
                "lr_scale": scale,
                "weight_decay": weight_decay if decays else 0.0,
                "layer_id": depth,
            }
        groups[key]["params"].append(param)
        groups[key]["names"].append(name)
    return [groups[key] for key in sorted(groups)]


def original_name(name: str) -> str:
    """A parameter's name in the unwrapped model: ``name`` without FSDP's and activation
    checkpointing's wrapper segments (:data:`WRAPPER_SEGMENTS`)."""
    for segment in WRAPPER_SEGMENTS:
        name = name.replace(segment, "")
    return name


def build_optimizer(model: LayeredModel, cfg: OptimConfig, lr: float) -> torch.optim.Optimizer:
    """AdamW (default) or SGD with momentum over :func:`param_groups`; ``lr`` is the peak LR
    after batch-size scaling."""
    groups = param_groups(model, lr, cfg.weight_decay, cfg.layer_decay)
    for group in groups:
        group.pop("names")
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr, betas=cfg.betas)


def scaled_lr(cfg: OptimConfig, global_batch: int) -> float:
    """The peak LR: ``optim.lr``, scaled linearly by ``global_batch / base_batch_size`` when
    ``optim.base_batch_size`` is set (the linear scaling rule of Goyal et al., 2017)."""
    if cfg.base_batch_size is None:
        return cfg.lr
    return cfg.lr * global_batch / cfg.base_batch_size
