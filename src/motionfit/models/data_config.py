"""The settings a model decides, filled in when a run is put together.

The model, not the recipe, owns its input spec (as timm's training script calls
``resolve_model_data_config`` once it knows the model): ``augment.mean``/``augment.std`` that
no config layer or override sets (or that are set to ``null``) take the model's own; so does the
``p`` of every registered augmentation whose section leaves it to the model (``p: null``; the
appearance debiasing, :meth:`~motionfit.data.augment.Augmentation.model_decided`): on for a
model that sees appearance, off for the motion-only CNNs when the augmentation needs
appearance, so swapping ``model.name`` in a recipe never silently drops debiasing. Values set
on purpose stay.
Loading a config never does this (the schema imports no model); ``train``, ``pretrain``,
``features``, ``plan``, ``data preview`` and ``config show`` call
:func:`resolve_model_defaults`, and a run saves the resolved config, so ``evaluate``,
``predict`` and ``export`` read the values it trained with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motionfit.data.augment import registered
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


def model_defaults(config: Config) -> dict[str, object]:
    """The values the model of ``config`` gives the model-decided ``augment`` keys (``mean``,
    ``std``, ``NAME.p``): its normalization, and the probability of each model-decided
    augmentation (e.g. 0.5 for a model that sees appearance, 0 for a motion-only one). An
    unknown model name takes the Kinetics normalization and sees appearance."""
    spec = model_spec_or_none(config.model.name)
    sees_appearance = spec.sees_appearance if spec else True
    own: dict[str, object] = {
        "mean": spec.mean if spec else KINETICS_MEAN,
        "std": spec.std if spec else KINETICS_STD,
    }
    for name, augmentation in registered().items():
        if augmentation.model_decided():
            own[f"{name}.p"] = augmentation.model_default_p(sees_appearance)
    return own


def resolve_model_defaults(config: Config) -> Config:
    """A copy of ``config`` with the model-decided ``augment`` keys left unset (``None``) filled
    with the model's own (:func:`model_defaults`); values set on purpose stay."""
    raw = config.augment.model_dump()
    changed = False
    for key, value in model_defaults(config).items():
        name, _, field = key.rpartition(".")
        section = raw[name] if name else raw
        if section[field] is None:
            section[field] = value
            changed = True
    if not changed:
        return config
    augment = config.augment.model_validate(raw)
    return config.model_copy(update={"augment": augment})


def model_value_notes(config: Config) -> dict[str, str]:
    """Where each model-decided ``augment`` key's value comes from, one note per key (``mean``,
    ``NAME.p``...), for ``config show`` of a resolved config: the model's own, or set by
    the config."""
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
    for key, default in model_defaults(config).items():
        if key in NORMALIZATION_KEYS:
            continue
        name, _, field = key.partition(".")
        if getattr(config.augment.settings(name), field) == default:
            notes[key] = f"the model's default ({spec.name} {sight})"
        else:
            notes[key] = f"set by the config; {spec.name} {sight}, its default is {default}"
    return notes
