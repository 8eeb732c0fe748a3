"""Reading local weight files safely and loading them with a report.

Never unpickles code: ``.pt`` files go through ``torch.load(weights_only=True)``, and
``.safetensors`` through safetensors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import torch

from motionfit.atomic import atomic_write_text
from motionfit.data.records import LabelMap
from motionfit.errors import ModelError

if TYPE_CHECKING:
    from motionfit.models.base import VideoClassifier


@dataclass
class HeadClasses:
    """Which rows of the final classifier layer went to which of the model's classes.

    ``matched_by``: ``"name"`` (rows follow the class names) or ``"position"`` (row i kept for
    class i because the source or the model names no classes; ``note`` says which). ``kept``:
    the model's classes whose rows came from the source; ``new``: the model's classes with a
    fresh row; ``dropped``: the source's classes this model does not have.
    """

    matched_by: str
    kept: list[str]
    new: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    note: str = ""

    def to_text(self, limit: int = 4) -> str:
        """``kept 4 by name; new 2: jump, wave`` (the first ``limit`` names of each list)."""
        text = f"kept {len(self.kept)} by {self.matched_by}"
        text += f": {self.note}" if self.note else ""
        for kind, names in (("new", self.new), ("dropped", self.dropped)):
            if names:
                text += f"; {kind} {len(names)}: {_abbrev(names, limit)}"
        return text


@dataclass
class LoadReport:
    """What happened when weights were loaded into a model.

    ``loaded``: tensors copied from the source (adapted ones included); ``adapted``: one line
    per tensor reshaped to fit (``pos_embed: 8x14x14 -> 16x14x14``); ``new``: head tensors left
    at their fresh initialization; ``missing``: other model tensors the source lacks (also fresh);
    ``unexpected``: source tensors the model has no place for (ignored, e.g. a MAE decoder);
    ``new_head``: some or all of the model's classes start with a fresh classifier row;
    ``head_classes``: how the classifier rows were matched to the classes (None: not at all).
    """

    source: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    new_head: bool = False
    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    head_classes: HeadClasses | None = None

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
        head = {"head_classes": asdict(self.head_classes)} if self.head_classes else {}
        return {
            "source": self.source,
            "counts": {kind: len(names) for kind, names in kinds.items()},
            **kinds,
            **head,
        }

    def to_text(self, limit: int = 4) -> str:
        """A few lines for people: the count of each kind and its first ``limit`` names."""
        notes = {
            "loaded": "copied from the source",
            "adapted": "reshaped to this clip length and size",
            "new": "head tensors left fresh",
            "missing": "not in the source: fresh initialization",
            "ignored": "in the source, no place in this model",
        }
        kinds = self.kinds()
        lines = [f"weights loaded from {self.source}:"]
        for kind, note in notes.items():
            names = kinds[kind]
            shown = f": {_abbrev(names, limit)}" if names else ""
            lines.append(f"  {kind:<8}{len(names):>5}  ({note}){shown}")
        if self.head_classes is not None:
            lines.append(f"  head: {self.head_classes.to_text(limit)}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        parts = [f"loaded {self.source}"]
        if self.head_classes is not None:
            parts.append(f"head: {self.head_classes.to_text()}")
        elif self.new_head:
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
CLASSES_METADATA = "motionfit.classes"  # safetensors metadata: the JSON list of class names


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

    A checkpoint dict with a ``state_dict``, ``model`` or ``model_state`` (PyTorchVideo's and
    PySlowFast's ``.pyth``) entry is unwrapped.
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
    for key in ("state_dict", "model", "module", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: not a state dict of tensors")
    return state


def class_metadata(names: Sequence[str]) -> dict[str, str]:
    """The safetensors metadata that names the classes of a saved model's classifier rows."""
    return {CLASSES_METADATA: json.dumps(list(names))}


def read_class_names(path: str | Path) -> tuple[str, ...] | None:
    """The class names of a weights file's classifier rows (row i = name i), or None.

    From the ``motionfit.classes`` metadata of a ``.safetensors`` file (a run's
    ``model.safetensors``), else from a ``labels.txt`` beside the file, or, for a file in a
    run's ``checkpoints/`` folder, from the run's ``labels.txt``.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            stored = (handle.metadata() or {}).get(CLASSES_METADATA)
        if stored is not None:
            names = json.loads(stored)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ModelError(f"{path}: metadata {CLASSES_METADATA} is not a list of names")
            return tuple(names)
    folders = [path.parent, *([path.parent.parent] if path.parent.name == "checkpoints" else [])]
    for folder in folders:
        if (folder / "labels.txt").is_file():
            return LabelMap.load(folder / "labels.txt").names
    return None


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
    model: VideoClassifier,
    state: dict[str, torch.Tensor],
    source: str,
    native_keys: Callable[[str], str],
    adapt: StateAdapter | None = None,
    source_classes: Sequence[str] | None = None,
) -> LoadReport:
    """Load a state dict into a ``VideoClassifier`` (``backbone.*`` + ``head.*`` parameters).

    ``state`` may use the classifier's own keys (a saved motionfit model, possibly under one
    wrapper prefix such as ``model.``) or the backbone's native keys, which ``native_keys`` maps
    to the classifier's (e.g. ``fc.weight`` -> ``head.layers.1.weight``). ``adapt(state, own)``
    may replace tensors whose shape depends on the clip length or input size (position tables)
    and returns one line per adapted tensor.

    The rows of the final classifier layer go to the model's classes by name when both the
    source (``source_classes``) and the model (``model.class_names``) name their classes (see
    :func:`match_class_names`): matched rows are kept, other classes get fresh rows. Without
    names on either side, rows are kept by position if the class counts are equal (the report
    says so), else the head starts fresh. ``report.new_head`` says some class has a fresh row;
    other mismatches are listed, and a source that matches less than half of the backbone is an
    error.
    """
    own = model.state_dict()
    state = _match_keys(state, own, native_keys)
    adapted = adapt(state, own) if adapt is not None else []
    head_classes = _transfer_head_rows(model, state, own, source_classes, source)
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
        new_head=bool(new) or bool(head_classes and head_classes.new),
        loaded=sorted(fitting),
        new=new,
        head_classes=head_classes,
    )


def match_class_names(source: Sequence[str], target: Sequence[str]) -> list[int | None]:
    """For each ``target`` class, the index of the ``source`` class of the same name, or None.

    Exact names first, then names equal up to case, runs of whitespace and underscores vs
    spaces (``riding_a_bike`` = ``Riding a bike``); nothing else is guessed, and each source
    class is used at most once.
    """
    exact = {name: index for index, name in enumerate(source)}
    picks: list[int | None] = [exact.get(name) for name in target]
    taken = set(picks)
    loose: dict[str, list[int]] = {}
    for index, name in enumerate(source):
        if index not in taken:
            loose.setdefault(_loose_name(name), []).append(index)
    for position, name in enumerate(target):
        candidates = loose.get(_loose_name(name), [])
        if picks[position] is None and len(candidates) == 1:
            picks[position] = candidates.pop()
    return picks


def _loose_name(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def _transfer_head_rows(
    model: VideoClassifier,
    state: dict[str, torch.Tensor],
    own: dict[str, torch.Tensor],
    source_classes: Sequence[str] | None,
    source: str,
) -> HeadClasses | None:
    """Put the source's final classifier rows in ``state`` in the model's class order (see
    :func:`load_classifier_weights`). None, leaving ``state`` as it is, when the source head
    cannot be used: no final layer, another input width or hidden layer, or another class
    count without names on both sides."""
    last = f"head.layers.{len(model.head.layers) - 1}."
    weight, bias = state.get(last + "weight"), state.get(last + "bias")
    hidden_fits = all(
        key in state and state[key].shape == value.shape
        for key, value in own.items()
        if key.startswith("head.") and not key.startswith(last)
    )
    fresh_weight, fresh_bias = own[last + "weight"], own[last + "bias"]
    if (
        weight is None
        or bias is None
        or not hidden_fits
        or weight.shape[1:] != fresh_weight.shape[1:]
        or bias.shape != weight.shape[:1]
    ):
        return None
    rows, ours = len(weight), model.class_names
    if source_classes is not None and len(source_classes) != rows:
        raise ModelError(
            f"{source}: names {len(source_classes)} classes, but its classifier has {rows} rows"
        )
    if source_classes is None or ours is None:
        if rows != len(fresh_weight):
            return None
        names = ours or source_classes or [str(row) for row in range(rows)]
        unnamed = "the source" if source_classes is None else "the model"
        return HeadClasses("position", kept=list(names), note=f"{unnamed} names no classes")
    picks = match_class_names(source_classes, ours)
    if any(pick is not None for pick in picks):
        fresh_weight, fresh_bias = fresh_weight.clone(), fresh_bias.clone()
        for row, pick in enumerate(picks):
            if pick is not None:
                fresh_weight[row], fresh_bias[row] = weight[pick], bias[pick]
        state[last + "weight"], state[last + "bias"] = fresh_weight, fresh_bias
    else:  # no class in common: the whole head is new
        del state[last + "weight"], state[last + "bias"]
    taken = set(picks)
    return HeadClasses(
        "name",
        kept=[name for name, pick in zip(ours, picks, strict=True) if pick is not None],
        new=[name for name, pick in zip(ours, picks, strict=True) if pick is None],
        dropped=[name for index, name in enumerate(source_classes) if index not in taken],
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
