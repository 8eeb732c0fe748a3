"""The data settings a model expects, resolved from its registry spec.

The model, not the recipe, owns its input spec (like timm's ``resolve_model_data_config``):
``augment.mean``/``augment.std`` that no config layer or override sets (or that are set to
``null``) take the model's own when a :class:`~motionfit.config.Config` is validated, so
training, evaluation, predict and the export sidecar all read the model's values. A recipe that
sets them on purpose keeps its values. A lone ``AugmentConfig`` keeps the schema default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motionfit.errors import ModelError
from motionfit.models.registry import KINETICS_MEAN, KINETICS_STD, ModelSpec, get_spec

if TYPE_CHECKING:
    from motionfit.config import Config

NORMALIZATION_KEYS = ("mean", "std")


def model_spec_or_none(name: str) -> ModelSpec | None:
    """The registry spec of ``name``; ``None`` for an unknown name (``build_model`` reports it)."""
    try:
        return get_spec(name)
    except ModelError:
        return None


def resolve_data_config(config: Config) -> Config:
    """Fill ``augment.mean``/``augment.std`` left unset (or ``null``) with the model's own,
    in place.

    An unknown model name falls back to the Kinetics normalization; values set on purpose
    stay. Returns ``config`` so it can end a validator.
    """
    spec = model_spec_or_none(config.model.name)
    own = {
        "mean": spec.mean if spec else KINETICS_MEAN,
        "std": spec.std if spec else KINETICS_STD,
    }
    for key in NORMALIZATION_KEYS:
        unset = key not in config.augment.model_fields_set
        if unset or getattr(config.augment, key) is None:
            setattr(config.augment, key, own[key])
    return config


def normalization_notes(config: Config) -> dict[str, str]:
    """Where ``augment.mean``/``augment.std`` come from, one note per key, for ``config show``."""
    spec = model_spec_or_none(config.model.name)
    if spec is None:
        return {}
    notes = {}
    for key in NORMALIZATION_KEYS:
        own = tuple(getattr(spec, key))
        value = getattr(config.augment, key)
        if value is not None and tuple(value) == own:
            notes[key] = f"the model's ({spec.name})"
        else:
            notes[key] = f"set by the config; {spec.name}'s own is {list(own)}"
    return notes
