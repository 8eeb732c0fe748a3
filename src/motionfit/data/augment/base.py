"""What an augmentation is: a name, a stage, a config section, a guard verdict, whether it acts
on appearance, and how ``data preview`` draws it (as torchvision's ``v2.Transform`` pairs
``make_params`` with ``transform``, and timm's ``create_transform`` builds a pipeline from
names).

Three stages, in the order a training clip meets them:

- ``clip-temporal``: decoded uint8 frames ``[T, C, H, W]`` and the clip's label, in the loader
  worker, before the spatial transforms (a reversal, a speed change; may change the label);
- ``clip-spatial``: a torchvision ``v2.Transform`` run after the random crop and flip, on the
  clip in float 0-1 (``in_float``) or uint8, one parameter draw for every frame;
- ``batch``: the normalized float batch on the training device, with its soft targets and one
  seed key per clip (mixing, blending with other clips of the batch).

Importing this module imports no torch: a config is validated without it. The stages' code
imports torch when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    import torch
    from torchvision.transforms import v2

    from motionfit.config import AugmentConfig

Stage = Literal["clip-temporal", "clip-spatial", "batch"]
STAGES: tuple[Stage, ...] = ("clip-temporal", "clip-spatial", "batch")
VerdictLevel = Literal["recommended", "allowed", "avoid"]


def probability(default: float | None, description: str) -> Any:
    """A probability field (0-1) with ``default`` and ``description``."""
    return Field(default=default, ge=0.0, le=1.0, description=description)


def unit_range(field: str) -> Any:
    """A validator: ``field`` is ``[low, high]`` with ``0 <= low <= high <= 1``."""

    def check(cls: type, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError("must be [low, high] with 0 <= low <= high <= 1")
        return value

    return field_validator(field)(classmethod(check))


class AugmentSettings(BaseModel):
    """Base of an augmentation's config section (``augment.NAME``): unknown keys are errors,
    assignments are validated, numbers are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


SettingsT = TypeVar("SettingsT", bound=AugmentSettings)


@dataclass(frozen=True)
class Verdict:
    """The guard's view of an augmentation for action recognition, with the reason."""

    level: VerdictLevel
    reason: str


@dataclass(frozen=True)
class AugmentContext:
    """What an augmentation may need besides its settings: the clip's ``augment`` section
    (crop size, normalization) and the class names, in label order (for label maps)."""

    augment: AugmentConfig
    class_names: tuple[str, ...] = ()

    def class_ids(self, pairs: Mapping[str, str], key: str) -> dict[int, int]:
        """Class name pairs (``a: b``) -> a symmetric id map (see :func:`class_pair_ids`)."""
        return class_pair_ids(self.class_names, pairs, key)


def class_pair_ids(
    class_names: Sequence[str], pairs: Mapping[str, str], key: str
) -> dict[int, int]:
    """Class name pairs (``a: b``) -> a symmetric class id map; a ConfigError naming the config
    ``key`` for a name the data lacks or a class paired with two different classes."""
    from motionfit.errors import ConfigError

    ids = {name: index for index, name in enumerate(class_names)}
    mapping: dict[int, int] = {}
    for first, second in pairs.items():
        for name in (first, second):
            if name not in ids:
                raise ConfigError(
                    f"config key '{key}': unknown class '{name}' "
                    f"(classes: {', '.join(class_names)})"
                )
        a, b = ids[first], ids[second]
        for source, target in ((a, b), (b, a)):
            if mapping.get(source, target) != target:
                raise ConfigError(
                    f"config key '{key}': class '{class_names[source]}' is paired with two "
                    "different classes"
                )
            mapping[source] = target
    return mapping


@dataclass
class BatchState:
    """A training batch between batch augmentations: normalized float ``videos``
    ``[B, C, T, H, W]``, soft ``targets`` ``[B, K]``, one seed ``keys[i]`` per clip
    (``(seed, epoch, dataset index, repeat)``: draws per clip, whatever the batch order), the
    step's ``generator``, and per augmentation the clips it changed (bool ``[B]``)."""

    videos: torch.Tensor
    targets: torch.Tensor
    keys: Sequence[Sequence[int]]
    generator: torch.Generator
    applied: dict[str, torch.Tensor] = field(default_factory=dict)


class Augmentation(Generic[SettingsT]):
    """One augmentation. Subclass one of :class:`ClipTemporalAugmentation`,
    :class:`ClipSpatialAugmentation`, :class:`BatchAugmentation`, set the class attributes and
    register it (:func:`motionfit.data.augment.register`).

    ``aliases`` maps old flat keys (``augment.KEY``) to a field of the section; they still
    load, with a deprecation note. A section whose ``p`` defaults to ``None`` is the model's
    to decide: ``appearance_p`` for a model that sees appearance, 0 for a motion-only one
    (when ``needs_appearance``).
    """

    name: ClassVar[str]
    stage: ClassVar[Stage]
    settings_model: ClassVar[type[AugmentSettings]]
    verdict: ClassVar[Verdict]
    needs_appearance: ClassVar[bool] = False
    appearance_p: ClassVar[float] = 0.5
    aliases: ClassVar[dict[str, str]] = {}
    order: ClassVar[int] = 50  # within its stage, lower runs first

    def __init__(self, settings: SettingsT, context: AugmentContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def is_on(cls, settings: SettingsT) -> bool:
        """Whether ``settings`` can change a clip (default: ``p`` > 0)."""
        return bool(getattr(settings, "p", 0) or 0)

    @classmethod
    def turned_off(cls) -> dict[str, Any]:
        """The section fields that turn it off (default ``p = 0``)."""
        return {"p": 0.0}

    @classmethod
    def preview_settings(cls, settings: SettingsT) -> SettingsT:
        """The settings ``data preview`` draws it with: every clip augmented (``p = 1``)."""
        if "p" in type(settings).model_fields:
            return settings.model_copy(update={"p": 1.0})
        return settings

    @classmethod
    def guard(cls, settings: SettingsT) -> tuple[str, str] | None:
        """(the field at fault, why ``settings`` hurt action recognition), or None (default:
        the ``avoid`` verdict's reason whenever it is on, at the field that turns it off)."""
        if cls.verdict.level == "avoid" and cls.is_on(settings):
            return next(iter(cls.turned_off())), cls.verdict.reason
        return None

    @classmethod
    def model_decided(cls) -> bool:
        """Whether an unset ``p`` is the model's to decide."""
        fields = cls.settings_model.model_fields
        return "p" in fields and fields["p"].default is None

    @classmethod
    def model_default_p(cls, sees_appearance: bool) -> float:
        """The ``p`` a model gives it when the config leaves it unset."""
        return cls.appearance_p if sees_appearance or not cls.needs_appearance else 0.0

    def preview(self, clip: torch.Tensor, other: torch.Tensor) -> torch.Tensor | None:
        """uint8 ``[C, T, H, W]`` ``clip`` as this augmentation changes it (``other``: a clip of
        another video, for those that take one); None = shown in the training rows."""
        return None


class ClipTemporalAugmentation(Augmentation[SettingsT]):
    """Runs in the loader worker on decoded frames, before the spatial transforms."""

    stage: ClassVar[Stage] = "clip-temporal"

    def __call__(
        self, frames: torch.Tensor, label: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, int]:
        """uint8 ``[T, C, H, W]`` frames and the label -> (frames, label); every random draw
        from ``generator``."""
        raise NotImplementedError

    def preview(self, clip: torch.Tensor, other: torch.Tensor) -> torch.Tensor | None:
        """The clip with this augmentation applied (its label not shown)."""
        import torch

        frames, _ = self(clip.transpose(0, 1), 0, torch.Generator().manual_seed(0))
        return frames.transpose(0, 1)


class ClipSpatialAugmentation(Augmentation[SettingsT]):
    """A torchvision transform run after the random crop and flip."""

    stage: ClassVar[Stage] = "clip-spatial"
    in_float: ClassVar[bool] = True  # on float 0-1 (torchvision's colour ops are faster there)

    def transform(self) -> v2.Transform:
        """The torchvision transform (it draws from torch's global generator, which the caller
        seeds per clip)."""
        raise NotImplementedError


class BatchAugmentation(Augmentation[SettingsT]):
    """Runs on the normalized training batch, on the training device."""

    stage: ClassVar[Stage] = "batch"

    def __call__(self, batch: BatchState) -> BatchState:
        """The batch with this augmentation applied (new tensors; the input is unchanged)."""
        raise NotImplementedError

    def preview(self, clip: torch.Tensor, other: torch.Tensor) -> torch.Tensor | None:
        """``clip`` augmented in a batch of two with ``other``, targets ignored."""
        import torch

        videos = torch.stack([clip, other]).float()
        state = BatchState(
            videos, torch.eye(2), [(0, 0, 0, 0), (0, 0, 1, 0)], torch.Generator().manual_seed(0)
        )
        return self(state).videos[0].round().clamp(0, 255).to(torch.uint8)
