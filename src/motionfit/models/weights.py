"""Reading local weight files safely and loading them with a report.

Never unpickles code: ``.pt`` files go through ``torch.load(weights_only=True)``, and
``.safetensors`` through safetensors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from motionfit.atomic import atomic_write_text
from motionfit.errors import ModelError


@dataclass
class LoadReport:
    """What happened when weights were loaded into a model.

    ``loaded``: tensors copied from the source (adapted ones included); ``adapted``: one line
    per tensor reshaped to fit (``pos_embed: 8x14x14 -> 16x14x14``); ``new``: head tensors left
    at their fresh initialization; ``missing``: other model tensors the source lacks (also fresh);
    ``unexpected``: source tensors the model has no place for (ignored, e.g. a MAE decoder).
    """

    source: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    new_head: bool = False
    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)

    def kinds(self) -> dict[str, list[str]]:
        """The names of each kind, under the names the reports use (``unexpected`` is
        ``ignored``)."""
        return {
            "loaded": self.loaded,
            "adapted": self.adapted,
            "new": self.new,
            "missing": self.missing,
            "ignored": self.unexpected,
        }

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (every name, and the count of each kind)."""
        kinds = self.kinds()
        return {
            "source": self.source,
            "counts": {kind: len(names) for kind, names in kinds.items()},
            **kinds,
        }

    def to_text(self, limit: int = 4) -> str:
        """A few lines for people: the count of each kind and its first ``limit`` names."""
        notes = {
            "loaded": "copied from the source",
            "adapted": "reshaped to this clip length and size",
            "new": "fresh head for these classes",
            "missing": "not in the source: fresh initialization",
            "ignored": "in the source, no place in this model",
        }
        kinds = self.kinds()
        lines = [f"weights loaded from {self.source}:"]
        for kind, note in notes.items():
            names = kinds[kind]
            shown = f": {_abbrev(names, limit)}" if names else ""
            lines.append(f"  {kind:<8}{len(names):>5}  ({note}){shown}")
        return "\n".join(lines)

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


STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
LOAD_REPORT_FILES = ("load_report.json", "load_report.txt")


def save_load_report(report: LoadReport, folder: str | Path) -> list[Path]:
    """Write ``load_report.json`` (every name) and ``load_report.txt`` (the summary people
    read) into ``folder``, atomically; returns the two paths."""
    folder = Path(folder)
    json_name, text_name = LOAD_REPORT_FILES
    return [
        atomic_write_text(folder / json_name, json.dumps(report.to_dict(), indent=1) + "\n"),
        atomic_write_text(folder / text_name, report.to_text() + "\n"),
    ]


def report_load(report: LoadReport, folder: str | Path, echo: bool = True) -> list[Path]:
    """Save the load report in ``folder`` (see :func:`save_load_report`) and, with ``echo``,
    print its summary on stderr; returns the saved paths."""
    paths = save_load_report(report, folder)
    if echo:
        from rich.console import Console

        Console(stderr=True).print(report.to_text(), markup=False, highlight=False, soft_wrap=True)
    return paths


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.pt``/``.pth``/``.bin`` (weights only) or ``.safetensors`` state dict.

    A checkpoint dict with a ``state_dict`` or ``model`` entry is unwrapped.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder; expected a weights file ({'/'.join(STATE_DICT_SUFFIXES)} "
            "state dict, e.g. a run's model.safetensors)"
        )
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    state: object
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
        loaded=sorted(fitting),
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
    new = sorted(k for k in own if k.startswith("head.") and k not in fitting)
    return LoadReport(
        source=source,
        missing=sorted(k for k in own if k not in fitting and not k.startswith("head.")),
        unexpected=sorted(
            k for k in state if k not in fitting and not (new and k.startswith("head."))
        ),
        adapted=adapted,
        new_head=bool(new),
        loaded=sorted(fitting),
        new=new,
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
