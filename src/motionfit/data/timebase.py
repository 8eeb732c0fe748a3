"""Strides that follow time: fix the frame rate at which a recipe's frame strides are counted.

A recipe states strides in frames (``sampling.stride: 4``), which means different speeds at
different frame rates: a model trained on 30 fps clips sees the motion of a 15 fps test video
twice as fast. With ``sampling.stride_fps: auto`` training fixes the rate the strides are
counted at to its videos' median frame rate, and every later use of the run (validation, test,
predict, export) scales the strides of a video at another rate to cover the same time. On
training data at one frame rate nothing changes there. The default stays ``frames``: on the
time-shifted synthetic test set of docs/ablation.md, ``auto`` did not beat it (92.2 vs 91.2%
with augmentation, 86.9 vs 94.4% without).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

from motionfit.config import Config
from motionfit.data.decode import probe
from motionfit.data.records import VideoRecord
from motionfit.errors import VideoDecodeError

PROBED_VIDEOS = 64  # videos probed for the median frame rate (a seeded sample)


def median_fps(records: Sequence[VideoRecord], limit: int = PROBED_VIDEOS) -> float | None:
    """The median frame rate of up to ``limit`` of ``records`` (an evenly spread, fixed
    sample; unreadable videos are skipped), or None when none can be read."""
    picked = np.unique(np.linspace(0, len(records) - 1, min(limit, len(records))).astype(int))
    rates = []
    for index in picked:
        try:
            fps = probe(records[index].path).fps
        except VideoDecodeError:
            continue
        if fps > 0:
            rates.append(fps)
    return statistics.median(rates) if rates else None


def resolve_stride_fps(config: Config, records: Sequence[VideoRecord]) -> Config:
    """``config`` with ``sampling.stride_fps: auto`` replaced by the median frame rate of the
    training ``records`` (rounded to 0.001); unchanged when it is a number or ``frames``, or when
    no frame rate can be read."""
    if config.sampling.stride_fps != "auto" or not records:
        return config
    fps = median_fps(records)
    if fps is None:
        return config
    sampling = config.sampling.model_copy(update={"stride_fps": round(float(fps), 3)})
    return config.model_copy(update={"sampling": sampling})
