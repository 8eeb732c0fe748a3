"""Weights of the torchvision families: torchvision's weights enums (read from the torch hub
cache, never downloaded) or a local state-dict file, loaded with a :class:`LoadReport`; the
classifier rows go to the model's classes by name (an enum's ``meta["categories"]``)."""

from __future__ import annotations

from pathlib import Path

import torchvision
from torchvision.models import WeightsEnum

from motionfit.errors import ModelError
from motionfit.models.base import VideoClassifier
from motionfit.models.weights import (
    STATE_DICT_SUFFIXES,
    LoadReport,
    load_classifier_weights,
    read_class_names,
    read_hub_checkpoint,
    read_state_dict,
)

_LOCAL_FILE = f"{'/'.join(STATE_DICT_SUFFIXES)} file"


def resolve_torchvision_weights(tv_model: str, source: str) -> WeightsEnum:
    """The torchvision weights enum member named by ``source``.

    Accepts ``KINETICS400_V1``, ``torchvision:KINETICS400_V1``, ``DEFAULT`` or the qualified
    ``Swin3D_T_Weights.KINETICS400_V1``.
    """
    enum_cls = torchvision.models.get_model_weights(tv_model)
    choices = ", ".join(f"{enum_cls.__name__}.{w.name}" for w in enum_cls)
    qualifier, _, member = source.removeprefix("torchvision:").rpartition(".")
    if qualifier and qualifier != enum_cls.__name__:
        raise ModelError(f"'{source}' are weights of another model; {tv_model} takes {choices}")
    try:
        return enum_cls[member]
    except KeyError:
        raise ModelError(
            f"unknown weights '{source}' for {tv_model}: use {choices} or a local {_LOCAL_FILE}"
        ) from None


def is_local_weights(source: str) -> bool:
    """True when ``source`` names a weights file rather than a weights enum."""
    return source.endswith(STATE_DICT_SUFFIXES) or Path(source).exists()


def load_torchvision_pretrained(
    model: VideoClassifier, source: str, *, tv_model: str | None, native_classifier: str
) -> LoadReport:
    """Load ``source`` into a torchvision-family classifier: a local file, or (when
    ``tv_model`` has weights in torchvision) a weights enum read from the torch hub cache.
    ``native_classifier`` is the prefix of the backbone's own classifier in torchvision keys;
    tables that depend on the clip shape are resized by the model's
    ``adapt_pretrained_state`` (see :func:`load_classifier_weights`). Classifier rows follow
    class names: an enum's ``meta["categories"]`` (Kinetics-400 names), a local file's
    :func:`read_class_names`."""
    if Path(source).is_dir():
        raise ModelError(_folder_message(source, tv_model))
    if is_local_weights(source):
        state = read_state_dict(source)
        classes = read_class_names(source)
    elif tv_model is None:
        raise ModelError(
            f"no torchvision weights for this model; give a local {_LOCAL_FILE} instead of "
            f"'{source}'"
        )
    else:
        weights = resolve_torchvision_weights(tv_model, source)
        source = f"{type(weights).__name__}.{weights.name}"
        state = read_hub_checkpoint(weights.url, source)
        classes = weights.meta.get("categories")
    last = f"head.layers.{len(model.head.layers) - 1}."

    def native_keys(key: str) -> str:
        if key.startswith(native_classifier):
            return last + key.removeprefix(native_classifier)
        return "backbone." + key

    adapt = model.adapt_pretrained_state
    return load_classifier_weights(model, state, source, native_keys, adapt, classes)


def _folder_message(source: str, tv_model: str | None) -> str:
    """Why a folder is not weights for a torchvision-family model, and what is."""
    kind = "a HuggingFace model folder?" if (Path(source) / "config.json").is_file() else "a folder"
    names = ""
    if tv_model is not None:
        names = ", ".join(w.name for w in torchvision.models.get_model_weights(tv_model))
        names = f"torchvision weights ({names}) or "
    return (
        f"pretrained weights '{source}' is {kind}; this torchvision-family model takes "
        f"{names}a {'/'.join(STATE_DICT_SUFFIXES)} state-dict file (e.g. a run's "
        "model.safetensors)"
    )
