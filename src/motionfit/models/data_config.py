"""The data settings a model expects, resolved from its registry spec.

The model, not the recipe, owns its input spec (like timm's ``resolve_model_data_config``):
``augment.mean``/``augment.std`` that no config layer or override sets (or that are set to
``null``) take the model's own when a :class:`~motionfit.config.Config` is validated, so
training, evaluation, predict and the export sidecar all read the model's values. The same
holds for the appearance-debiasing augmentations ``augment.still_mix`` and
``augment.foreground_paste``: left unset they are on (the schema's probability) for a model
that sees appearance and off for the motion-only CNNs, so swapping ``model.name`` in a recipe
never silently drops debiasing. A recipe that sets any of them on purpose keeps its values. A
lone ``AugmentConfig`` keeps the schema default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motionfit.errors import ModelError
from motionfit.models.registry import KINETICS_MEAN, KINETICS_STD, ModelSpec, get_spec

if TYPE_CHECKING:
    from motionfit.config import Config

NORMALIZATION_KEYS = ("mean", "std")
DEBIAS_KEYS = ("still_mix", "foreground_paste")  # need appearance to act on: model-dependent


def model_spec_or_none(name: str) -> ModelSpec | None:
    """The registry spec of ``name``; ``None`` for an unknown name (``build_model`` reports it)."""
    try:
        return get_spec(name)
    except ModelError:
        return None


def model_defaults(config: Config) -> dict[str, object]:
    """The values the model of ``config`` gives the model-dependent ``augment`` keys: its
    normalization, and the debiasing probabilities (the schema's for a model that sees
    appearance, 0 for a motion-only one). An unknown model name takes the Kinetics
    normalization and the schema's debiasing."""
    spec = model_spec_or_none(config.model.name)
    fields = type(config.augment).model_fields
    sees_appearance = spec.sees_appearance if spec else True
    own: dict[str, object] = {
        "mean": spec.mean if spec else KINETICS_MEAN,
        "std": spec.std if spec else KINETICS_STD,
    }
    for key in DEBIAS_KEYS:
        own[key] = fields[key].default if sees_appearance else 0.0
    return own


def resolve_data_config(config: Config) -> Config:
    """Fill the model-dependent ``augment`` keys (normalization, debiasing) left unset (or
    ``null``) with the model's own, in place. Values set on purpose stay. Returns ``config``
    so it can end a validator."""
    for key, value in model_defaults(config).items():
        unset = key not in config.augment.model_fields_set
        if unset or getattr(config.augment, key) is None:
            setattr(config.augment, key, value)
    return config


def model_value_notes(config: Config) -> dict[str, str]:
    """Where each model-dependent ``augment`` key's value comes from, one note per key, for
    ``config show``: the model's own, or set by the config (naming the model's)."""
    spec = model_spec_or_none(config.model.name)
    if spec is None:
        return {}
    notes = {}
    for key in NORMALIZATION_KEYS:
        own = list(getattr(spec, key))
        value = getattr(config.augment, key)
        if value is not None and list(value) == own:
            notes[key] = f"the model's ({spec.name})"
        else:
            notes[key] = f"set by the config; {spec.name}'s own is {own}"
    sight = "sees appearance" if spec.sees_appearance else "sees only motion"
    defaults = model_defaults(config)
    for key in DEBIAS_KEYS:
        if getattr(config.augment, key) == defaults[key]:
            notes[key] = f"the model's default ({spec.name} {sight})"
        else:
            notes[key] = f"set by the config; {spec.name} {sight}, its default is {defaults[key]}"
    return notes
