"""Video data: records (a folder, list or CSV of labeled videos), temporal samplers, windowed
decoding and transforms behind :class:`VideoClipDataset`."""

from motionfit.data.dataset import VideoClipDataset, collate_clips
from motionfit.data.records import LabelMap, VideoRecord, read_records
from motionfit.data.sampling import ClipIndices, EvalSampler, TrainSampler
from motionfit.data.transforms import (
    EvalClipTransform,
    EvalTransform,
    TrainClipTransform,
    TrainTransform,
    VideoNormalize,
)

__all__ = [
    "ClipIndices",
    "EvalClipTransform",
    "EvalSampler",
    "EvalTransform",
    "LabelMap",
    "TrainClipTransform",
    "TrainSampler",
    "TrainTransform",
    "VideoClipDataset",
    "VideoNormalize",
    "VideoRecord",
    "collate_clips",
    "read_records",
]
