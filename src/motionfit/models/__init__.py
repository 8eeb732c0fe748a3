"""Video models behind one interface: ``build_model(name, ...)`` -> ``VideoClassifier``.

``list_specs()``/``get_spec(name)`` read the registry (input spec, weight sources, advice);
``resolve_model_defaults(config)`` fills what a config leaves to the model (normalization,
debiasing).
"""

from motionfit.models.base import VideoClassifier
from motionfit.models.build import build_model, build_model_from_config
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.head import HeadSpec
from motionfit.models.registry import ModelSpec, get_spec, list_specs, register_model

__all__ = [
    "HeadSpec",
    "ModelSpec",
    "VideoClassifier",
    "build_model",
    "build_model_from_config",
    "get_spec",
    "list_specs",
    "register_model",
    "resolve_model_defaults",
]
