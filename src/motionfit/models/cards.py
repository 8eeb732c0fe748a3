"""Model cards generated from the registry: what each model is, what it costs, when to use it.

Costs are measured, not copied: parameters by counting, and FLOPs of one forward pass of one
clip at the model's default frames and size with ``torch.utils.flop_counter.FlopCounterMode``.
FLOPs here are floating-point operations, i.e. 2 x multiply-adds (torchvision's tables list
multiply-adds under "GFLOPS"). Models are built and run on the ``meta`` device (no memory, no
arithmetic; a full-size model takes well under a second); results are cached in
``$MOTIONFIT_CACHE`` (default ``~/.cache/motionfit``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from motionfit import __version__
from motionfit.models.head import HeadSpec
from motionfit.models.registry import ModelSpec, list_specs

CARD_NUM_CLASSES = 400  # parameters are counted with a Kinetics-400 head
_CACHE_FILE = "model_costs.json"


@dataclass(frozen=True)
class ModelCard:
    """One row of ``motionfit models``.

    Attributes:
        name: registry name.
        family: model family (swin, mvit, videomae, timesformer, cnn).
        frames: default clip length.
        size: default input size (square).
        frame_multiple: clip lengths must be a multiple of this.
        params_m: parameters in millions (with a 400-class head).
        gflops: GFLOPs (2 x GMACs) of one forward pass of one clip at ``frames`` x ``size``.
        pretrained: weight sources the model lists.
        use_if: when to pick it.
        recipe: the recipe to start from, if any.
        tiny: a CPU-sized variant for demos and tests.
    """

    name: str
    family: str
    frames: int
    size: int
    frame_multiple: int
    params_m: float
    gflops: float
    pretrained: tuple[str, ...]
    use_if: str
    recipe: str | None
    tiny: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        out = asdict(self)
        out["pretrained"] = list(self.pretrained)
        return out


def model_cards(use_cache: bool = True) -> list[ModelCard]:
    """A card for every registered model, in registration order."""
    cache = _read_cache() if use_cache else {}
    cards = []
    for spec in list_specs():
        key = _cache_key(spec)
        if key not in cache:
            params, flops = measure_cost(spec)
            cache[key] = {"params": params, "flops": flops}
        cost = cache[key]
        cards.append(
            ModelCard(
                name=spec.name,
                family=spec.family,
                frames=spec.default_frames,
                size=spec.default_size,
                frame_multiple=spec.frame_multiple,
                params_m=round(cost["params"] / 1e6, 2),
                gflops=round(cost["flops"] / 1e9, 2),
                pretrained=spec.pretrained,
                use_if=spec.use_if,
                recipe=spec.recipe,
                tiny=spec.tiny,
            )
        )
    if use_cache:
        _write_cache(cache)
    return cards


def measure_cost(spec: ModelSpec) -> tuple[int, int]:
    """(parameters, forward FLOPs) of one clip at the model's default frames and size.

    Counted on the ``meta`` device; a model that cannot run there is counted on the CPU with
    the math attention kernel (FlopCounterMode does not see fused CPU attention).
    """
    try:
        return _count(spec, torch.device("meta"))
    except (RuntimeError, NotImplementedError, TypeError):
        return _count(spec, torch.device("cpu"))


def count_flops(model: torch.nn.Module, video: torch.Tensor) -> int:
    """FLOPs (2 x multiply-adds) of ``model(video)``, attention included.

    Gradients are off on the parameters for the count rather than under ``torch.no_grad``:
    FlopCounterMode's module tracker fails on a parameter expanded under ``no_grad``
    (VideoPrism's attention pooling query).
    """
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter:
            model(video)
    finally:
        for parameter, flag in zip(model.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
    return counter.get_total_flops()


def _count(spec: ModelSpec, device: torch.device) -> tuple[int, int]:
    kwargs = {"eager_attention": True} if spec.capabilities.eager_attention else {}
    frames, size = spec.default_frames, spec.default_size
    with device:
        model = spec.builder(CARD_NUM_CLASSES, frames, size, HeadSpec(), 0.0, **kwargs)
        video = torch.zeros(1, 3, frames, size, size)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    return params, count_flops(model, video)


def cache_dir() -> Path:
    """Where motionfit caches measured costs (``$MOTIONFIT_CACHE`` or ``~/.cache/motionfit``)."""
    return Path(os.environ.get("MOTIONFIT_CACHE", Path.home() / ".cache" / "motionfit"))


def _cache_key(spec: ModelSpec) -> str:
    return (
        f"{spec.name}|{spec.default_frames}x{spec.default_size}|{__version__}|{torch.__version__}"
    )


def _read_cache() -> dict[str, dict[str, int]]:
    try:
        data = json.loads((cache_dir() / _CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache: dict[str, dict[str, int]]) -> None:
    path = cache_dir() / _CACHE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs a re-count next time
