"""Reading local weight files safely and loading them with a report.

Never unpickles code: ``.pt`` files go through ``torch.load(weights_only=True)``, and
``.safetensors`` through safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


def _abbrev(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... (+{len(names) - limit})" if len(names) > limit else "")
