"""Reading local weight files safely and loading them with a report.

Never unpickles code: ``.pt`` files go through ``torch.load(weights_only=True)``, and
``.safetensors`` through safetensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from motionfit.errors import ModelError


@dataclass
class LoadReport:
    """What happened when weights were loaded into a model."""

    source: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)  # e.g. "pos_embed: 8x14x14 -> 16x14x14"
    new_head: bool = False

    def summary(self) -> str:
        """One line for logs and the CLI."""
        parts = [f"loaded {self.source}"]
        if self.new_head:
            parts.append("new head")
        if self.adapted:
            parts.append(f"adapted {len(self.adapted)}: {', '.join(self.adapted)}")
        if self.missing:
            parts.append(f"missing {len(self.missing)}: {_abbrev(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected {len(self.unexpected)}: {_abbrev(self.unexpected)}")
        return "; ".join(parts)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.pt``/``.pth``/``.bin`` (weights only) or ``.safetensors`` state dict.

    A checkpoint dict with a ``state_dict`` or ``model`` entry is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code, wrong format
        raise ModelError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: not a state dict of tensors")
    return state


def load_with_report(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> LoadReport:
    """Load what fits (same name and shape); report the rest instead of failing."""
    own = module.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    wrong_shape = [k for k in state if k in own and own[k].shape != state[k].shape]
    module.load_state_dict(fitting, strict=False)
    return LoadReport(
        source=source,
        missing=sorted(k for k in own if k not in fitting),
        unexpected=sorted([k for k in state if k not in own] + wrong_shape),
    )


def hub_cache_path(url: str) -> Path:
    """Where ``torch.hub`` keeps the file downloaded from ``url``:
    ``torch.hub.get_dir()/checkpoints/<file name in the url>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def read_hub_checkpoint(url: str, name: str) -> dict[str, torch.Tensor]:
    """Read the cached download of ``url`` (weights only); never downloads.

    A missing file is a :class:`ModelError` naming the exact path and the URL to fetch it from.
    """
    path = hub_cache_path(url)
    if not path.is_file():
        raise ModelError(
            f"weights {name} are not in the torch hub cache: {path} is missing. motionfit never "
            f"downloads at run time; fetch them once with: curl -L --create-dirs -o {path} {url}"
        )
    return read_state_dict(path)


MIN_MATCHED_FRACTION = 0.5  # below this, the weights belong to another model

StateAdapter = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], list[str]]


def load_classifier_weights(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    native_keys: Callable[[str], str],
    adapt: StateAdapter | None = None,
) -> LoadReport:
    """Load a state dict into a ``VideoClassifier`` (``backbone.*`` + ``head.*`` parameters).

    ``state`` may use the classifier's own keys (a saved motionfit model, possibly under one
    wrapper prefix such as ``model.``) or the backbone's native keys, which ``native_keys`` maps
    to the classifier's (e.g. ``fc.weight`` -> ``head.layers.1.weight``). ``adapt(state, own)``
    may replace tensors whose shape depends on the clip length or input size (position tables)
    and returns one line per adapted tensor. A head whose class count differs starts fresh and
    the report says ``new_head``; other mismatches are listed, and a source that matches less
    than half of the backbone is an error.
    """
    own = model.state_dict()
    state = _match_keys(state, own, native_keys)
    adapted = adapt(state, own) if adapt is not None else []
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    backbone = [k for k in own if not k.startswith("head.")]
    matched = sum(k in fitting for k in backbone)
    if matched < len(backbone) * MIN_MATCHED_FRACTION:
        raise ModelError(
            f"{source}: only {matched} of the model's {len(backbone)} backbone tensors match "
            "(weights of another model?)"
        )
    model.load_state_dict(fitting, strict=False)
    new_head = any(k.startswith("head.") and k not in fitting for k in own)
    return LoadReport(
        source=source,
        missing=sorted(k for k in own if k not in fitting and not k.startswith("head.")),
        unexpected=sorted(
            k for k in state if k not in fitting and not (new_head and k.startswith("head."))
        ),
        adapted=adapted,
        new_head=new_head,
    )


def _match_keys(
    state: dict[str, torch.Tensor],
    own: dict[str, torch.Tensor],
    native_keys: Callable[[str], str],
) -> dict[str, torch.Tensor]:
    """Rename ``state`` to the classifier's keys: as is, from the backbone's native keys, or the
    entries under one wrapper prefix (``model.`` in a Lightning checkpoint), whichever matches
    most of the model."""
    candidates = [state, {native_keys(k): v for k, v in state.items()}]
    for prefix in {k.split(".", 1)[0] + "." for k in state if "." in k}:
        candidates.append(
            {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        )
    return max(candidates, key=lambda c: sum(k in own for k in c))


def _abbrev(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... (+{len(names) - limit})" if len(names) > limit else "")
