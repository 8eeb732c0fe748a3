"""Augmentations, one module each, behind one interface and one registry.

Add your own: subclass :class:`ClipTemporalAugmentation`, :class:`ClipSpatialAugmentation` or
:class:`BatchAugmentation` with a ``name``, a settings model (its config section
``augment.NAME``), a guard :class:`Verdict` and whether it ``needs_appearance``, then
``register`` it from your module, or name it in your package's ``pyproject.toml``::

    [project.entry-points."motionfit.augmentations"]
    time_reversal = "my_package.augment:TimeReversal"

``motionfit train``, ``data preview``, ``ablate --add`` and the guard then use it. Importing this
package imports no torch.
"""

from motionfit.data.augment.base import (
    STAGES,
    Augmentation,
    AugmentContext,
    AugmentSettings,
    BatchAugmentation,
    BatchState,
    ClipSpatialAugmentation,
    ClipTemporalAugmentation,
    Stage,
    Verdict,
    probability,
    unit_range,
)
from motionfit.data.augment.registry import (
    aliases,
    build_stage,
    get,
    register,
    registered,
    unregister,
)

__all__ = [
    "STAGES",
    "AugmentContext",
    "AugmentSettings",
    "Augmentation",
    "BatchAugmentation",
    "BatchState",
    "ClipSpatialAugmentation",
    "ClipTemporalAugmentation",
    "Stage",
    "Verdict",
    "aliases",
    "build_stage",
    "get",
    "probability",
    "register",
    "registered",
    "unit_range",
    "unregister",
]
