"""Reading HuggingFace video checkpoints into motionfit's transformers-backed classifiers.

Weight sources (``ModelSpec.load_pretrained``):

- a hub id such as ``MCG-NJU/videomae-base-finetuned-kinetics`` (``hf:`` prefix optional), read
  from the local HF cache first; the hub is asked only when ``HF_HUB_OFFLINE`` is unset;
- a local ``save_pretrained`` folder (``config.json`` + ``model.safetensors`` or
  ``pytorch_model.bin``);
- a ``.pt``/``.safetensors`` state dict (read without unpickling code).

Key layouts: motionfit's own (``videomae.*``/``timesformer.*``, ``fc_norm.*``, ``head.*``),
HF ``*ForVideoClassification`` (``classifier.*`` -> head), the HF base model (no prefix), and
``VideoMAEForPreTraining`` (its decoder is reported as unexpected). Wrappers such as
``model.``/``module.`` are stripped. Learned position tables are resized to the model's frames
and size. Classifier rows go to the model's classes by name: the source's names are its
``config.json`` ``id2label`` (transformers' placeholders ``LABEL_0``, ... name nothing), else those
stored with the weights file (:func:`~motionfit.models.weights.read_class_names`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

from motionfit.errors import ModelError
from motionfit.models.hf_common import HFVideoClassifier
from motionfit.models.hf_timesformer import TIMESFORMER_SIZES
from motionfit.models.hf_videomae import VIDEOMAE_SIZES
from motionfit.models.hub import hub_unreachable_reason
from motionfit.models.posembed import resize_flat_grid
from motionfit.models.weights import (
    LoadReport,
    load_classifier_weights,
    read_class_names,
    read_state_dict,
)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_PLACEHOLDER_LABEL = re.compile(r"LABEL_\d+")


@dataclass
class Checkpoint:
    """Weights read from a source, with its HF ``config.json`` when it has one and the names of
    its classifier rows when it names them."""

    state: dict[str, torch.Tensor]
    config: dict[str, Any] | None
    classes: tuple[str, ...] | None = None


def load_hf_pretrained(model: HFVideoClassifier, source: str) -> LoadReport:
    """Load ``source`` into a transformers-backed classifier (VideoMAE, TimeSformer, V-JEPA 2,
    VideoPrism).

    The backbone must match (a different width or depth is a :class:`ModelError` naming the
    model that fits); position tables are interpolated to the model's frames and size; the
    classifier rows go to ``model.class_names`` by name (see
    :func:`~motionfit.models.weights.load_classifier_weights`). The report is also stored on
    ``model.load_report``.
    """
    checkpoint = read_checkpoint(source)
    if checkpoint.config is not None:
        _check_architecture(model, checkpoint.config, source)
    state = _to_motionfit_layout(checkpoint.state, model)
    adapted = _resize_position_tables(model, state, checkpoint.config, source)
    _check_backbone_fits(model, state, source)
    install_learned_tables(model, state)
    report = load_classifier_weights(
        model, state, source, native_keys=lambda key: key, source_classes=checkpoint.classes
    )
    report.adapted = adapted
    model.load_report = report
    return report


def read_checkpoint(source: str) -> Checkpoint:
    """Read weights (and ``config.json`` if any) from a hub id, folder or state-dict file."""
    name = source.removeprefix("hf:")
    path = Path(name).expanduser()
    if path.is_dir():
        return _read_folder(path)
    if path.is_file() or path.suffix in {".pt", ".pth", ".bin", ".safetensors"}:
        return Checkpoint(read_state_dict(path), None, read_class_names(path))
    if _HUB_ID.match(name):
        return _read_folder(_hub_folder(name, source))
    raise ModelError(f"pretrained weights '{source}': no such file or folder, and not a hub id")


# ---------------------------------------------------------------------------------------------
# Reading sources


def _read_folder(path: Path) -> Checkpoint:
    config = None
    if (path / "config.json").is_file():
        try:
            config = json.loads((path / "config.json").read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path / 'config.json'}: invalid JSON ({exc})") from exc
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            state = read_state_dict(path / name)
            return Checkpoint(state, config, _id2label(config) or read_class_names(path / name))
    sharded = " (sharded checkpoints are not supported)" if any(path.glob("*.index.json")) else ""
    raise ModelError(f"{path}: no {' or '.join(WEIGHT_FILES)} in this folder{sharded}")


def _id2label(config: dict[str, Any] | None) -> tuple[str, ...] | None:
    """The class names of ``config.json`` ``id2label`` in id order; None without them, or when
    they are only transformers' placeholders (``LABEL_0``, ``LABEL_1``, ...)."""
    id2label = (config or {}).get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        return None
    try:
        by_id = {int(key): str(name) for key, name in id2label.items()}
    except ValueError:
        return None
    if sorted(by_id) != list(range(len(by_id))):
        return None
    names = tuple(by_id[i] for i in range(len(by_id)))
    return None if all(_PLACEHOLDER_LABEL.fullmatch(n) for n in names) else names


def _hub_folder(repo_id: str, source: str) -> Path:
    """The cached snapshot folder of ``repo_id``: from the HF cache, else downloaded unless
    ``HF_HUB_OFFLINE`` is set. A miss is a :class:`ModelError` saying where to put the files."""
    offline = constants.HF_HUB_OFFLINE
    reason = "HF_HUB_OFFLINE is set" if offline else "it is not in the cache"
    unreachable = None if offline else hub_unreachable_reason()
    if unreachable is not None:
        offline, reason = True, unreachable  # fail now, not after ~30 s of retries
    for local_only in (True,) if offline else (True, False):
        try:
            folder = Path(hf_hub_download(repo_id, "config.json", local_files_only=local_only))
            if _hub_weights(repo_id, local_only):
                return folder.parent
            if not local_only:
                raise ModelError(f"hub model {repo_id} has no {' or '.join(WEIGHT_FILES)}")
        except (OSError, ValueError, EntryNotFoundError) as exc:  # not cached, no network, bad id
            if not local_only:
                reason = f"the hub is unreachable ({type(exc).__name__})"
    raise ModelError(
        f"pretrained weights '{source}': '{repo_id}' is not in the local HuggingFace cache "
        f"({constants.HF_HUB_CACHE}) and {reason}, nor is it a local folder. On a machine with "
        f"network run `hf download {repo_id} --local-dir DIR`, copy DIR here and pass "
        f"model.pretrained=DIR (or fill the cache above, e.g. via HF_HOME)"
    )


def _hub_weights(repo_id: str, local_only: bool) -> bool:
    """Fetch the first weights file the repo has; False if it has none (or none cached)."""
    for name in WEIGHT_FILES:
        try:
            hf_hub_download(repo_id, name, local_files_only=local_only)
            return True
        except EntryNotFoundError as exc:
            if not local_only and isinstance(exc, LocalEntryNotFoundError):
                raise  # online, this means the hub could not be reached
    return False


# ---------------------------------------------------------------------------------------------
# Adapting a state dict to the model


def _check_architecture(model: HFVideoClassifier, config: dict[str, Any], source: str) -> None:
    model_type = config.get("model_type")
    if model_type is not None and model_type not in model.hf_model_types:
        raise ModelError(
            f"pretrained weights '{source}' are a '{model_type}' model; this is a "
            f"{model.family} model: pick a {model_type} model name"
        )
    diffs = [
        f"{name}={config[name]} (model: {getattr(model.config, name)})"
        for name in model.hf_arch_fields
        if name in config and config[name] != getattr(model.config, name)
    ]
    if diffs:
        dims = (config.get("hidden_size"), config.get("num_hidden_layers"))
        sizes = {**VIDEOMAE_SIZES, **TIMESFORMER_SIZES}
        fits = [n for n, size in sizes.items() if n.startswith(model.family) and size.dims == dims]
        hint = f"; use model '{fits[0]}'" if fits else ""
        raise ModelError(f"pretrained weights '{source}' do not fit: {', '.join(diffs)}{hint}")


def _to_motionfit_layout(
    state: dict[str, torch.Tensor], model: HFVideoClassifier
) -> dict[str, torch.Tensor]:
    """Rename HF / wrapped keys to the model's own names."""
    prefix = model.backbone_prefix
    wrapper = _wrapper_prefix(state, prefix)
    if wrapper:
        state = {k.removeprefix(wrapper): v for k, v in state.items() if k.startswith(wrapper)}
    if not any(k.startswith(prefix + ".") for k in state):  # HF base model: no prefix
        roots = model.hf_base_roots
        state = {f"{prefix}.{k}" if k.startswith(roots) else k: v for k, v in state.items()}
    for old, new in model.hf_renames:
        state = {k.replace(old, new) if k.endswith(old) else k: v for k, v in state.items()}
    last = f"head.layers.{len(model.head.layers) - 1}"
    if len(model.head.layers) == 2:  # dropout + linear: an HF classifier maps onto it
        state = {
            k.replace("classifier.", f"{last}.", 1) if k.startswith("classifier.") else k: v
            for k, v in state.items()
        }
    return state


def _wrapper_prefix(state: dict[str, torch.Tensor], backbone: str) -> str:
    """``'model.'`` for keys like ``model.videomae.encoder...`` (Lightning, DDP), else ``''``."""
    for key in state:
        parts = key.split(".")
        if backbone in parts:
            return ".".join([*parts[: parts.index(backbone)], ""])
    return ""


def _resize_position_tables(
    model: HFVideoClassifier,
    state: dict[str, torch.Tensor],
    config: dict[str, Any] | None,
    source: str,
) -> list[str]:
    """Interpolate the checkpoint's position/time tables to the model's token grids."""
    source_grids = (
        model.position_grids_for(config["num_frames"], config["image_size"])
        if config is not None and "num_frames" in config and "image_size" in config
        else {}
    )
    notes = []
    for key, grid in model.position_grids().items():
        if key not in state:
            continue
        table = state[key]
        owner, _, attribute = key.rpartition(".")
        current: torch.Tensor = getattr(model.get_submodule(owner), attribute)
        extra = current.shape[1] - math.prod(grid)
        cells = table.shape[1] - extra
        source_grid = source_grids.get(key) or _infer_grid(cells, grid)
        wrong_width = table.shape[-1] != current.shape[-1]
        if source_grid is None or math.prod(source_grid) != cells or wrong_width:
            raise ModelError(
                f"pretrained weights '{source}': cannot map {key} {tuple(table.shape)} onto "
                f"{tuple(current.shape)}; pass a folder with its config.json"
            )
        state[key] = resize_flat_grid(table, source_grid, grid, num_prefix_tokens=extra)
        if tuple(source_grid) != tuple(grid):
            short = key.rsplit(".", 1)[-1]
            notes.append(f"{short}: {_fmt(source_grid)} -> {_fmt(grid)}")
    return notes


def install_learned_tables(model: HFVideoClassifier, state: dict[str, torch.Tensor]) -> None:
    """A checkpoint's learned table replaces VideoMAE's fixed sinusoid (which is no state)."""
    own = model.state_dict()
    for key in model.position_grids():
        if key in state and key not in own:
            model.set_position_table(state[key])


def _infer_grid(cells: int, grid: tuple[int, ...]) -> tuple[int, ...] | None:
    """A checkpoint grid without config.json: 1-D is its length; 2-D is square; 3-D keeps the
    model's frames (square spatial) or else the model's spatial grid."""
    if len(grid) == 1:
        return (cells,)
    if len(grid) == 2:
        side = math.isqrt(cells)
        return (side, side) if side * side == cells else None
    frames, height, width = grid
    side = math.isqrt(cells // frames)
    if cells % frames == 0 and side * side * frames == cells:
        return (frames, side, side)
    if cells % (height * width) == 0:
        return (cells // (height * width), height, width)
    return None


def _check_backbone_fits(
    model: HFVideoClassifier, state: dict[str, torch.Tensor], source: str
) -> None:
    """A backbone tensor of another shape means another model size: an error, not a skip."""
    own = model.state_dict()
    wrong = [
        k
        for k in state
        if k in own and not k.startswith("head.") and state[k].shape != own[k].shape
    ]
    if wrong:
        more = f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise ModelError(
            f"pretrained weights '{source}' do not fit {model.family} model: {wrong[0]} is "
            f"{tuple(state[wrong[0]].shape)}, model has {tuple(own[wrong[0]].shape)}{more}"
        )


def _fmt(grid: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in grid)
