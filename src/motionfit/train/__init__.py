"""Training: the Lightning task, data module, callbacks, and the ``train`` entry point.

``from motionfit.train import train`` imports Lightning on first use, not with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motionfit.train.fit import TrainResult, train

__all__ = ["TrainResult", "train"]


def __getattr__(name: str) -> Any:
    """``train`` and ``TrainResult`` from :mod:`motionfit.train.fit`, imported on first use."""
    if name in __all__:
        from motionfit.train import fit

        return getattr(fit, name)
    raise AttributeError(f"module 'motionfit.train' has no attribute {name!r}")
