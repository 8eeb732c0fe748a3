"""Video data: records (a folder, list or CSV of labeled videos), temporal samplers, windowed
decoding and transforms behind :class:`VideoClipDataset`; augmentations in :mod:`.augment`.

The names below load on first use (PEP 562), so ``motionfit.data.augment`` (which a config
validation reads) imports no torch.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "VideoClipDataset": "dataset",
    "collate_clips": "dataset",
    "LabelMap": "records",
    "VideoRecord": "records",
    "read_records": "records",
    "ClipIndices": "sampling",
    "EvalSampler": "sampling",
    "TrainSampler": "sampling",
    "EvalClipTransform": "transforms",
    "EvalTransform": "transforms",
    "TrainClipTransform": "transforms",
    "TrainTransform": "transforms",
    "VideoNormalize": "transforms",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'motionfit.data' has no attribute {name!r}")
    return getattr(import_module(f"motionfit.data.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
