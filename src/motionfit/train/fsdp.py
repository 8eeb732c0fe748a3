"""``train.strategy=fsdp``: Lightning's FSDP strategy, configured for motionfit's runs.

- **Units**: one FSDP unit per block of the model, the block class read from the model's own
  depth map (:func:`block_classes`: the ``layer_id`` layer-wise LR decay uses), so every
  family that describes its layers shards per transformer block or residual stage.
- **Activation checkpointing**: ``train.grad_checkpointing`` recomputes each block in the
  backward pass (non-reentrant ``checkpoint_wrapper``), for any family with blocks.
- **Precision**: ``train.precision``; half-precision parameters for compute, gradients reduced
  and buffers kept in float32 (:func:`mixed_precision`).
- **Checkpoints**: full state dicts, gathered on rank 0 and written by the run's atomic
  checkpoint IO: the same one-file ``.ckpt`` a one-device run writes (``export``, ``features``,
  ``load_run`` read it unchanged), optimizer state numbered as a one-device optimizer numbers
  it, read back with ``weights_only=True``.
- **Gradient clipping**: ``train.grad_clip`` as the norm over all shards
  (:class:`ShardedGradClip`; Lightning's own clipping refuses FSDP).
- **CPU**: Lightning allows FSDP on CUDA only; torch's FSDP runs on the CPU with gloo when told
  the device, which :class:`ShardedStrategy` does (tests, and machines without a GPU).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.strategies import FSDPStrategy
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torch.distributed.fsdp import (
    FullOptimStateDictConfig,
    FullStateDictConfig,
    MixedPrecision,
    OptimStateKeyType,
    StateDictType,
)
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import ModuleWrapPolicy

from motionfit.config import TrainConfig
from motionfit.errors import ConfigError
from motionfit.train.callbacks import read_checkpoint
from motionfit.train.optim import LayeredModel

_CONTAINERS = (nn.ModuleList, nn.Sequential, nn.ModuleDict)
_HALF = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def block_classes(module: nn.Module) -> frozenset[type[nn.Module]]:
    """The block class of the layered model in ``module`` (the module itself or, for a task,
    its first :class:`~motionfit.train.optim.LayeredModel` submodule): among the largest
    submodules whose parameters all sit at one depth between 1 and ``num_layers``
    (``layer_id``), the class holding the most parameters (VideoMAELayer, ResidualBlock3d,
    SwinTransformerBlock, ...). Empty when the model has no depth map."""
    model = layered_model(module)
    if model is None or model.num_layers < 1:
        return frozenset()
    sizes: dict[type[nn.Module], int] = {}

    def visit(prefix: str, sub: nn.Module) -> None:
        depths = {model.layer_id(prefix + name) for name, _ in sub.named_parameters()}
        one_depth = prefix and len(depths) == 1 and not isinstance(sub, _CONTAINERS)
        if one_depth and 1 <= min(depths) <= model.num_layers:
            numel = sum(p.numel() for p in sub.parameters())
            sizes[type(sub)] = sizes.get(type(sub), 0) + numel
            return
        for name, child in sub.named_children():
            visit(f"{prefix}{name}.", child)

    visit("", cast(nn.Module, model))  # a LayeredModel found among modules
    return frozenset({max(sizes, key=sizes.__getitem__)}) if sizes else frozenset()


def layered_model(module: nn.Module) -> LayeredModel | None:
    """``module`` when it describes its layers, else its first submodule that does (a task's
    model), else None."""
    return next((m for m in module.modules() if isinstance(m, LayeredModel)), None)


def pin_no_weight_decay(module: nn.Module) -> None:
    """Make the layered model in ``module`` answer ``no_weight_decay()`` as it does now, before
    FSDP turns every parameter into a flat 1-D shard (the answer goes by shape: norms and
    biases are 1-D), so that the optimizer built after wrapping keeps the groups."""
    model = layered_model(module)
    if model is not None:
        names = frozenset(model.no_weight_decay())
        model.no_weight_decay = lambda: set(names)  # type: ignore[method-assign]


def mixed_precision(precision: str) -> MixedPrecision | None:
    """FSDP's dtypes for a Lightning precision: for ``bf16-mixed``/``16-mixed`` parameters
    gathered and computed in that half type, gradients reduced and buffers (BatchNorm
    statistics, position tables) kept in float32; None (float32 throughout) otherwise."""
    half = _HALF.get(precision)
    if half is None:
        return None
    return MixedPrecision(param_dtype=half, reduce_dtype=torch.float32, buffer_dtype=torch.float32)


def fsdp_strategy(cfg: TrainConfig, precision: str) -> ShardedStrategy:
    """The strategy of ``train.strategy=fsdp`` for ``precision`` (Lightning's string)."""
    return ShardedStrategy(
        checkpoint_blocks=cfg.grad_checkpointing, mixed_precision=mixed_precision(precision)
    )


class ShardedStrategy(FSDPStrategy):
    """Lightning's :class:`FSDPStrategy` with full state dicts and original parameters
    (``use_orig_params``: the optimizer keeps motionfit's parameter groups), wrapped per block
    (:func:`block_classes`), optionally checkpointing each block, on CUDA or the CPU."""

    def __init__(self, checkpoint_blocks: bool = False, **kwargs: Any) -> None:
        super().__init__(state_dict_type="full", use_orig_params=True, **kwargs)
        self.checkpoint_blocks = checkpoint_blocks

    def _setup_model(self, model: nn.Module) -> nn.Module:
        """Wrap ``model`` one unit per block (on the CPU with the device named, which torch's
        FSDP needs there), then checkpoint the blocks when asked."""
        if any(isinstance(m, FSDP) for m in model.modules()):
            return super()._setup_model(model)
        blocks = block_classes(model)
        pin_no_weight_decay(model)
        if self.checkpoint_blocks and not blocks:
            raise ConfigError(
                "config key 'train.grad_checkpointing': with train.strategy=fsdp it checkpoints "
                "the model's blocks, and this model describes none (no layer_id depth map)"
            )
        if blocks:
            self.kwargs["auto_wrap_policy"] = ModuleWrapPolicy(blocks)
        if self.root_device.type == "cpu":
            model = FSDP(
                model,
                cpu_offload=self.cpu_offload,
                mixed_precision=self.mixed_precision_config,
                sharding_strategy=self.sharding_strategy,
                device_id=self.root_device,
                **self.kwargs,
            )
            self.kwargs.pop("auto_wrap_policy", None)  # applied (Lightning would warn)
        model = super()._setup_model(model)
        if self.checkpoint_blocks:
            from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
                apply_activation_checkpointing,
                checkpoint_wrapper,
            )

            policy = ModuleWrapPolicy(blocks)
            apply_activation_checkpointing(
                model, checkpoint_wrapper_fn=checkpoint_wrapper, auto_wrap_policy=policy
            )
        return model

    def _full_state(self, rank0_only: bool) -> AbstractContextManager:
        # On the CPU, torch's offload is a no-op that leaves every gathered optimizer state a
        # view of one reused buffer (exp_avg == exp_avg_sq); without it each state is cloned.
        offload = self.root_device.type != "cpu"
        assert self.model is not None
        return FSDP.state_dict_type(
            self.model,
            StateDictType.FULL_STATE_DICT,
            FullStateDictConfig(offload_to_cpu=offload, rank0_only=rank0_only),
            FullOptimStateDictConfig(offload_to_cpu=offload, rank0_only=rank0_only),
        )

    def lightning_module_state_dict(self) -> dict[str, Any]:
        """The full state dict, gathered on rank 0 (the other ranks get an empty one)."""
        assert self.model is not None
        with self._full_state(rank0_only=True):
            return self.model.state_dict()

    def optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """The full optimizer state on rank 0, its parameters numbered as ``optimizer``'s own
        ``state_dict()`` numbers them (group by group), as a one-device run saves it."""
        if isinstance(optimizer, LightningOptimizer):
            optimizer = optimizer._optimizer
        assert self.model is not None
        with self._full_state(rank0_only=True):
            state = FSDP.optim_state_dict(self.model, optimizer)
        if self.global_rank != 0:
            return state
        return FSDP.rekey_optim_state_dict(
            state, OptimStateKeyType.PARAM_ID, self.model, optim=optimizer
        )

    def load_checkpoint(
        self, checkpoint_path: str | Path, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Load a full checkpoint (``weights_only=True``, memory-mapped: the ranks of one
        machine share its pages) into the sharded model and, when fitting, the optimizers;
        returns the rest of the checkpoint."""
        del weights_only  # always True
        path = Path(self.broadcast(checkpoint_path))
        checkpoint = read_checkpoint(path, mmap=True)
        assert self.model is not None and self.lightning_module is not None
        module = self.lightning_module
        with self._full_state(rank0_only=False):
            self.model.load_state_dict(checkpoint.pop("state_dict"), strict=module.strict_loading)
            states = checkpoint.get("optimizer_states")
            if not states or module.trainer.state.fn != TrainerFn.FITTING:
                return checkpoint
            for optimizer, state in zip(self.optimizers, states, strict=True):
                named = FSDP.rekey_optim_state_dict(
                    state, OptimStateKeyType.PARAM_NAME, self.model, optim=optimizer
                )
                optimizer.load_state_dict(
                    FSDP.optim_state_dict_to_load(self.model, optimizer, named)
                )
        return checkpoint


class ShardedGradClip(L.Callback):
    """``train.grad_clip`` under FSDP: clip to ``max_norm`` the norm of the whole gradient,
    over every shard (``FullyShardedDataParallel.clip_grad_norm_``), before each optimizer
    step and after a 16-bit scaler has unscaled the gradients."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        """Clip the sharded gradients."""
        model = trainer.strategy.model
        if isinstance(model, FSDP):
            model.clip_grad_norm_(self.max_norm)
