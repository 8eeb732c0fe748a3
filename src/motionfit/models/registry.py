"""The model registry: a model is a name; its input spec, weights, capabilities and advice are
data.

Each family is one module of :mod:`motionfit.models.families` that registers its
:class:`~motionfit.models.family.Family` with :func:`register_family` and its models with
:func:`register_model`; importing the :mod:`motionfit.models` package imports the families (the
registry itself never does). Everything else (``build_model``, the model cards, ``motionfit
models``, ``recommend``, ``plan``, the config's model-decided values, the speed switches, LoRA)
reads the registry. The registry and the family declarations import no torch: a builder and a
weights loader import their network when called.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from motionfit.errors import ModelError
from motionfit.models.family import Capabilities, Family, WeightsConfig

if TYPE_CHECKING:
    from motionfit.models.base import VideoClassifier
    from motionfit.models.weights import LoadReport

# the normalization of models whose weights do not say otherwise (SlowFast's Kinetics default)
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """Everything known about a registered model before it is built.

    Attributes:
        name: registry key, e.g. ``swin3d_t``.
        family: the name of its registered :class:`~motionfit.models.family.Family`.
        builder: ``builder(num_classes, num_frames, image_size, head, drop_path, *,
            eager_attention=False)`` -> module (random init; ``build_model`` loads pretrained
            weights afterwards); ``eager_attention`` only where the family declares it.
        default_frames: clip length of the reference recipe (the model's input spec).
        default_size: input size of the reference recipe (the model's input spec).
        mean: per-channel input mean of the model's weights, for RGB scaled to [0, 1].
        std: per-channel input std of the model's weights.
        frame_multiple: clip lengths must be a multiple of this (tubelet / patch size).
        size_multiple: input sizes must be a multiple of this.
        weights: the published weights it loads, each with its facts (the first is the
            default of its recipe).
        use_if: the one-line advice shown in the model card.
        recipe: the recipe name to start from.
        tiny: a CPU-sized variant for demos and tests.
        load_pretrained: ``load_pretrained(model, source) -> LoadReport`` for this family's
            weight sources (adapting position embeddings to the model's frames and size);
            None: motionfit's own saved weights only.
        sees_appearance: whether the model sees the frames themselves (every video model
            does); ``False`` for the motion-only CNNs, which see frame differences alone, so
            appearance debiasing is off for them by default.
    """

    name: str
    family: str
    builder: Callable[..., VideoClassifier]
    default_frames: int
    default_size: int
    frame_multiple: int = 1
    size_multiple: int = 1
    weights: tuple[WeightsConfig, ...] = ()
    use_if: str = ""
    recipe: str | None = None
    tiny: bool = False
    load_pretrained: Callable[..., LoadReport] | None = None
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    sees_appearance: bool = True

    @property
    def pretrained(self) -> tuple[str, ...]:
        """The weight sources it lists (``torchvision:KINETICS400_V1``, ``hf:<hub id>``)."""
        return tuple(weights.source for weights in self.weights)

    @property
    def capabilities(self) -> Capabilities:
        """What its family's models can do."""
        return get_family(self.family).capabilities


_FAMILIES: dict[str, Family] = {}
_REGISTRY: dict[str, ModelSpec] = {}


def register_family(family: Family) -> Family:
    """Add a family (names are unique); register it before its models."""
    if family.name in _FAMILIES:
        raise ValueError(f"family '{family.name}' is registered twice")
    _FAMILIES[family.name] = family
    return family


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model of a registered family to the registry (names are unique)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model '{spec.name}' is registered twice")
    if spec.family not in _FAMILIES:
        raise ValueError(f"model '{spec.name}': register its family '{spec.family}' first")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model; a :class:`ModelError` suggests close names."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ModelError(f"unknown model '{name}'{hint}; see 'motionfit models'")
    return _REGISTRY[name]


def get_family(name: str) -> Family:
    """A registered family (a KeyError names the registered ones)."""
    if name not in _FAMILIES:
        raise KeyError(f"unknown family '{name}' (registered: {', '.join(_FAMILIES)})")
    return _FAMILIES[name]


def list_specs() -> list[ModelSpec]:
    """All registered models, in registration order."""
    return list(_REGISTRY.values())


def list_families() -> list[Family]:
    """All registered families, in registration order."""
    return list(_FAMILIES.values())


def families_with(capability: str) -> str:
    """The names of the families whose :class:`Capabilities` declare ``capability``, comma
    separated (for messages)."""
    return ", ".join(f.name for f in _FAMILIES.values() if getattr(f.capabilities, capability))
