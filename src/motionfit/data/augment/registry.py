"""The augmentation registry: every augmentation motionfit knows, by name, in stage order.

The built-in ones (every public module of this package but ``base`` and ``registry``: adding
one is adding its file) and those of installed packages (entry
point group ``motionfit.augmentations``, naming an :class:`Augmentation` subclass or a module
that registers its own) load on the first lookup; a user's own registers with :func:`register`.
The config schema, the trainer, the guard, the probe, the ablation and ``data preview`` read
this registry; nothing else names an augmentation.
"""

# Hand-written: a name -> class table with lazy loading; nothing in the field's libraries is
# meant for a third party's augmentations to plug into a config schema.

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from motionfit.data.augment.base import STAGES, Augmentation, AugmentContext, Stage
from motionfit.errors import ConfigError

if TYPE_CHECKING:
    from motionfit.config import AugmentConfig

ENTRY_POINT_GROUP = "motionfit.augmentations"
RESERVED = frozenset(
    {
        "enabled",
        "temporal",
        "spatial",
        "crop_size",
        "short_side",
        "scale",
        "ratio",
        "hflip",
        "flip_label_map",
        "flip_label_map_unknown",
        "mean",
        "std",
        "strict",
    }
)
"""The ``augment`` fields of the clip itself (size, crop, flip, normalization, switches)."""

AugmentationT = TypeVar("AugmentationT", bound=type[Augmentation[Any]])
_REGISTRY: dict[str, type[Augmentation[Any]]] = {}
_loaded = False


def register(augmentation: AugmentationT) -> AugmentationT:
    """Add an :class:`Augmentation` subclass under its ``name`` (usable as a decorator); its
    section ``augment.NAME`` is then valid in configs, and ``train``, ``data preview`` and
    ``ablate`` use it. Registering a name again replaces the earlier class of that name from
    the same module (a reload), and is a ConfigError otherwise."""
    name = getattr(augmentation, "name", "")
    if not name.isidentifier() or name in RESERVED:
        raise ConfigError(f"augmentation name {name!r} must be an identifier and not {RESERVED}")
    if getattr(augmentation, "stage", None) not in STAGES:
        raise ConfigError(f"augmentation '{name}': stage must be one of {', '.join(STAGES)}")
    known = _REGISTRY.get(name)
    if known is not None and known.__qualname__ != augmentation.__qualname__:
        raise ConfigError(
            f"augmentation '{name}' is registered already ({known.__module__}.{known.__qualname__})"
        )
    clash = set(augmentation.aliases) & (set(aliases()) - set(known.aliases if known else ()))
    if clash:
        raise ConfigError(f"augmentation '{name}': alias {sorted(clash)} is taken")
    _REGISTRY[name] = augmentation
    return augmentation


def unregister(name: str) -> None:
    """Remove a registered augmentation (for tests and notebooks)."""
    _REGISTRY.pop(name, None)


def registered(stage: Stage | None = None) -> dict[str, type[Augmentation[Any]]]:
    """Name -> class of every augmentation (of ``stage``), stage by stage in ``order``."""
    _load()
    chosen = [a for a in _REGISTRY.values() if stage is None or a.stage == stage]
    chosen.sort(key=lambda a: (STAGES.index(a.stage), a.order))
    return {a.name: a for a in chosen}


def get(name: str) -> type[Augmentation[Any]]:
    """The augmentation called ``name``; a ConfigError listing the known ones otherwise."""
    known = registered()
    if name not in known:
        raise ConfigError(f"unknown augmentation '{name}' (known: {', '.join(known)})")
    return known[name]


def aliases() -> dict[str, tuple[str, str]]:
    """Every old flat key ``augment.KEY`` -> (augmentation name, field of its section)."""
    return {
        alias: (augmentation.name, field)
        for augmentation in registered().values()
        for alias, field in augmentation.aliases.items()
    }


def build_stage(
    augment: AugmentConfig, stage: Stage, class_names: tuple[str, ...] = ()
) -> list[Augmentation[Any]]:
    """The augmentations of ``stage`` that ``augment`` turns on, ready to run, in order (none
    when ``augment.enabled`` is off, or ``augment.spatial`` for the clip-spatial stage)."""
    if not augment.enabled or (stage == "clip-spatial" and not augment.spatial):
        return []
    context = AugmentContext(augment, tuple(class_names))
    out = []
    for name, augmentation in registered(stage).items():
        settings = augment.settings(name)
        if augmentation.is_on(settings):
            out.append(augmentation(settings, context))
    return out


def _load() -> None:
    """Import the built-in augmentations and the installed packages' entry points, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module("motionfit.data.augment")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_") and module.name not in ("base", "registry"):
            importlib.import_module(f"motionfit.data.augment.{module.name}")
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plug-in names itself, not a traceback
            raise ConfigError(
                f"augmentation entry point '{point.name}' ({point.value}) failed to load: {exc}"
            ) from exc
        if isinstance(loaded, type) and issubclass(loaded, Augmentation):
            register(loaded)
