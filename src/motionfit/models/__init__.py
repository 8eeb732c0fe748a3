"""Video models behind one interface: ``build_model(name, ...)`` -> ``VideoClassifier``.

``list_specs()``/``get_spec(name)`` read the registry (input spec, weights, capabilities,
advice); ``resolve_model_defaults(config)`` fills what a config leaves to the model
(normalization, debiasing). Importing this package registers every family
(:mod:`motionfit.models.families`) and imports no torch: the names that need it
(``build_model``, ``VideoClassifier``, ...) load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from motionfit.models import families  # noqa: F401  # registers every family
from motionfit.models.registry import (
    ModelSpec,
    get_family,
    get_spec,
    list_families,
    list_specs,
    register_family,
    register_model,
)

if TYPE_CHECKING:
    from motionfit.models.base import VideoClassifier
    from motionfit.models.build import build_model, build_model_from_config
    from motionfit.models.data_config import resolve_model_defaults
    from motionfit.models.head import HeadSpec

_LAZY = {
    "VideoClassifier": "motionfit.models.base",
    "build_model": "motionfit.models.build",
    "build_model_from_config": "motionfit.models.build",
    "resolve_model_defaults": "motionfit.models.data_config",
    "HeadSpec": "motionfit.models.head",
}


def __getattr__(name: str) -> Any:
    """The torch-backed names, imported on first use (PEP 562)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'motionfit.models' has no attribute '{name}'")


__all__ = [
    "HeadSpec",
    "ModelSpec",
    "VideoClassifier",
    "build_model",
    "build_model_from_config",
    "get_family",
    "get_spec",
    "list_families",
    "list_specs",
    "register_family",
    "register_model",
    "resolve_model_defaults",
]
