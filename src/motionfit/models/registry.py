"""The model registry: a model is a name; its input spec, sources and advice are data.

Families register builders with :func:`register_model`; everything else (``build_model``, the
model cards, ``motionfit models``, ``motionfit recommend``) reads the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from motionfit.errors import ModelError
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
        family: ``swin``, ``mvit``, ``timesformer``, ``videomae`` or ``cnn``.
        builder: ``builder(num_classes, num_frames, image_size, head, drop_path)`` -> module
            (random init; pretrained weights are loaded afterwards by ``build_model``).
        default_frames: clip length of the reference recipe (the model's input spec).
        default_size: input size of the reference recipe (the model's input spec).
        mean: per-channel input mean of the model's weights, for RGB scaled to [0, 1].
        std: per-channel input std of the model's weights.
        frame_multiple: clip lengths must be a multiple of this (tubelet / patch size).
        size_multiple: input sizes must be a multiple of this.
        pretrained: known weight sources, e.g. ``torchvision:KINETICS400_V1`` or
            ``hf:MCG-NJU/videomae-base-finetuned-kinetics``.
        use_if: the one-line advice shown in the model card.
        recipe: the recipe name to start from.
        tiny: a CPU-sized variant for demos and tests.
        load_pretrained: ``load_pretrained(model, source) -> LoadReport`` for this family's
            weight sources (adapting position embeddings to the model's frames and size).
        sees_appearance: whether the model sees the frames themselves (every video model
            does); ``False`` for the motion-only CNNs, which see frame differences alone, so
            appearance debiasing (``augment.still_mix``, ``augment.foreground_paste``) is off
            for them by default.
        extra: family flags (``eager_attention``, ``attentive``).
    """

    name: str
    family: str
    builder: Callable[..., VideoClassifier]
    default_frames: int
    default_size: int
    frame_multiple: int = 1
    size_multiple: int = 1
    pretrained: tuple[str, ...] = ()
    use_if: str = ""
    recipe: str | None = None
    tiny: bool = False
    load_pretrained: Callable[..., LoadReport] | None = None
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    sees_appearance: bool = True
    extra: dict[str, object] = field(default_factory=dict)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (names are unique)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model '{spec.name}' is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model; a :class:`ModelError` suggests close names."""
    _load_families()
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ModelError(f"unknown model '{name}'{hint}; see 'motionfit models'")
    return _REGISTRY[name]


def list_specs() -> list[ModelSpec]:
    """All registered models, in registration order."""
    _load_families()
    return list(_REGISTRY.values())


def _load_families() -> None:
    """Import the family modules once; importing registers their models."""
    from motionfit.models import families  # noqa: F401
