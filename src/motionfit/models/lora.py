"""LoRA through PEFT (``model.lora: {rank, alpha, targets}``), merged into the weights on export.

PEFT's ``LoraModel`` injects low-rank adapters into the named linear layers of the model in
place (the model keeps its ``VideoClassifier`` interface) and leaves only the adapters
trainable; the top of the model (pooler, final norms, head: ``layer_id == L + 1``) is trained
too. After training, :func:`merge_lora_file` folds the adapters into the plain weights, so the
run's ``model.safetensors`` loads into the model without PEFT.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from safetensors.torch import load_file, save
from torch import nn

from motionfit.atomic import atomic_write_bytes
from motionfit.errors import ConfigError
from motionfit.models.base import VideoClassifier

if TYPE_CHECKING:
    from peft.tuners.lora import LoraModel

    from motionfit.config import LoraSettings


def add_lora(
    model: VideoClassifier,
    settings: LoraSettings,
    default_targets: str | tuple[str, ...],
    bypassed: tuple[str, ...] = (),
) -> LoraModel:
    """Inject LoRA adapters into ``model`` (in place); returns PEFT's tuner, needed to merge.

    ``settings.targets`` names the adapted modules; without them ``default_targets``, what the
    model's family declares (``Capabilities.lora_targets``). Targets that match nothing are a
    :class:`ConfigError` listing the names that can be adapted; so are targets that match a
    module whose weights the forward reads directly (``bypassed``, the family's
    ``Capabilities.lora_bypassed``): their adapter would never run."""
    try:
        from peft import LoraConfig
        from peft.tuners.lora import LoraModel
    except ImportError as exc:
        raise ConfigError(
            "config key 'model.lora' needs the PEFT library: pip install 'motionfit[peft]'"
        ) from exc
    targets = settings.targets or default_targets
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,  # type: ignore[arg-type]  # PEFT annotates int; scales alpha / r
        target_modules=targets if isinstance(targets, str) else list(targets),
    )
    try:
        tuner = LoraModel(model, config, adapter_name="default")
    except ValueError as exc:  # no module matched the targets
        first = str(exc).strip().splitlines()[0].rstrip(".")
        raise ConfigError(
            f"config key 'model.lora.targets'={targets!r}: {first}; modules of "
            f"{type(model).__name__} that take LoRA: {', '.join(adaptable_names(model))}"
        ) from exc
    unused = [name for name in _adapted(model) if name.endswith(bypassed)] if bypassed else []
    if unused:
        usable = default_targets if isinstance(default_targets, str) else ", ".join(default_targets)
        raise ConfigError(
            f"config key 'model.lora.targets'={targets!r}: {unused[0]} (and "
            f"{len(unused) - 1} more) is read by weight, not called, in {type(model).__name__}: "
            f"its adapter would never run; adapt e.g. {usable}"
        )
    top = model.num_layers + 1
    for name, param in model.named_parameters():
        if model.layer_id(name) == top:
            param.requires_grad_(True)
    return tuner


def _adapted(model: nn.Module) -> list[str]:
    """Names of the modules PEFT wrapped with an adapter."""
    from peft.tuners.lora import LoraLayer

    return [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]


def adaptable_names(model: nn.Module) -> list[str]:
    """The modules PEFT's LoRA can adapt (linear and convolution layers) by the name suffixes
    ``model.lora.targets`` may give (``qkv``, ``mlp.0``), in first-seen order."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    names = [_suffix(name) for name, module in model.named_modules() if isinstance(module, kinds)]
    return list(dict.fromkeys(names))


def _suffix(name: str) -> str:
    """The last parts of a module name up to one that is not an index (``mlp.0``)."""
    parts = name.split(".")
    start = len(parts) - 1
    while start > 0 and parts[start].isdigit():
        start -= 1
    return ".".join(parts[start:])


def merge_lora_file(tuner: LoraModel, weights: Path) -> Path:
    """Load ``weights`` (with adapters) into the tuner's model, merge the adapters into the
    base weights and rewrite ``weights`` without them (keeping the file's metadata, e.g. the
    class names of its classifier rows)."""
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as handle:
        metadata = handle.metadata()
    tuner.model.load_state_dict(load_file(str(weights)))
    merged = tuner.merge_and_unload()
    state = {k: v.detach().cpu().contiguous() for k, v in merged.state_dict().items()}
    return atomic_write_bytes(weights, save(state, metadata=metadata))
