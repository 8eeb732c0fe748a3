"""Temporal samplers: which frames of a video make a clip.

Every sampler is a pure function of (video length, random generator) -> :class:`ClipIndices`;
:class:`TrainSampler` and :class:`EvalSampler` are thin holders of the settings for the Dataset.
"""

# Hand-written: no maintained library samples clips with random stride, jitter and looping.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from motionfit.config import SamplingConfig
from motionfit.errors import DataError

ShortVideo = Literal["loop", "pad"]


@dataclass(frozen=True)
class ClipIndices:
    """The frames of one clip.

    ``indices`` are 0-based frame indices into the video (``len == num_frames``, all in range),
    ``stride`` the nominal stride, ``start`` the first frame of the span, and ``jittered`` the
    number of frames dropped plus duplicated by temporal jitter.
    """

    indices: tuple[int, ...]
    stride: int
    start: int
    jittered: int = 0


def clip_span(num_frames: int, stride: int) -> int:
    """Frames covered by a clip of ``num_frames`` frames taken every ``stride`` frames."""
    return (num_frames - 1) * stride + 1


def train_clip(
    num_video_frames: int,
    rng: np.random.Generator,
    *,
    num_frames: int,
    strides: Sequence[int],
    jitter_prob: float = 0.0,
    jitter_max: int = 0,
    short_video: ShortVideo = "loop",
    random_start: bool = True,
) -> ClipIndices:
    """A training clip: a stride drawn from ``strides`` and a random start over the valid span.

    With probability ``jitter_prob`` up to ``jitter_max`` frames are dropped (skipped; the clip
    extends one stride further at the end) or duplicated (repeated; the last frame falls off),
    so the clip keeps ``num_frames`` frames. ``random_start=False`` with one stride and no
    jitter gives the centre clip. A video shorter than the span is looped or padded
    (``short_video``).
    """
    _check_lengths(num_video_frames, num_frames)
    if not strides or min(strides) < 1:
        raise ValueError(f"strides must be non-empty and >= 1, got {list(strides)}")
    stride = int(strides[int(rng.integers(len(strides)))]) if len(strides) > 1 else int(strides[0])
    steps = np.full(num_frames - 1, stride, dtype=np.int64)
    jittered = 0
    if jitter_max > 0 and num_frames > 1 and rng.random() < jitter_prob:
        jittered = int(rng.integers(1, min(jitter_max, num_frames - 1) + 1))
        positions = rng.choice(num_frames - 1, size=jittered, replace=False)
        drop = rng.random(jittered) < 0.5
        steps[positions] = np.where(drop, 2 * stride, 0)
    offsets = np.concatenate(([0], np.cumsum(steps)))
    span = int(offsets[-1]) + 1
    if num_video_frames >= span:
        free = num_video_frames - span
        start = int(rng.integers(free + 1)) if random_start else free // 2
    elif short_video == "loop" and random_start:
        start = int(rng.integers(num_video_frames))
    else:
        start = 0
    indices = _fit(start + offsets, num_video_frames, short_video)
    return ClipIndices(indices, stride, start, jittered)


def centre_positions(num_clips: int) -> list[float]:
    """Where ``num_clips`` evaluation clips sit along a video, as fractions of the free span
    (0 = the clip starts at the first frame, 1 = it ends at the last): the centres of
    ``num_clips`` equal segments, ``(k + 1/2) / num_clips``, as mmaction2's test-mode
    ``SampleFrames`` places them. One clip is the centre clip; clips never sit on the very
    first or last frames, where real footage holds the still lead-in and tail of an action
    (placing the outer clips there cost 20-40 points of top-1 on a real gesture set:
    docs/real-footage.md)."""
    return [(k + 0.5) / num_clips for k in range(num_clips)]


def clips_at(
    num_video_frames: int,
    positions: Sequence[float],
    *,
    num_frames: int,
    stride: int,
    short_video: ShortVideo = "loop",
) -> list[ClipIndices]:
    """One clip of ``num_frames`` frames at ``stride`` per relative position (0 = starts at the
    first frame, 1 = ends at the last). A video shorter than the span gives clips whose starts
    are spread over the loop (``loop``) or all start at 0 (``pad``)."""
    _check_lengths(num_video_frames, num_frames)
    if stride < 1 or not positions or not all(0.0 <= p <= 1.0 for p in positions):
        raise ValueError(f"stride must be >= 1 and positions in [0, 1], got {stride}, {positions}")
    offsets = np.arange(num_frames, dtype=np.int64) * stride
    free = num_video_frames - clip_span(num_frames, stride)
    if free >= 0:
        # floor (one clip = free // 2); the epsilon keeps 340 * 0.7 from flooring to 237
        starts = [int(free * p + 1e-9) for p in positions]
    elif short_video == "loop":
        starts = [min(num_video_frames - 1, int(num_video_frames * p)) for p in positions]
    else:
        starts = [0] * len(positions)
    return [
        ClipIndices(_fit(start + offsets, num_video_frames, short_video), stride, start)
        for start in starts
    ]


def uniform_clips(
    num_video_frames: int,
    *,
    num_frames: int,
    stride: int,
    num_clips: int,
    short_video: ShortVideo = "loop",
) -> list[ClipIndices]:
    """``num_clips`` evaluation clips at the centres of equal segments of the video
    (:func:`centre_positions`; one clip = the centre clip). A video shorter than the span
    gives clips whose starts are spread over the loop (``loop``) or all start at 0 (``pad``)."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    return clips_at(
        num_video_frames,
        centre_positions(num_clips),
        num_frames=num_frames,
        stride=stride,
        short_video=short_video,
    )


def segment_clip(
    num_video_frames: int, *, num_frames: int, rng: np.random.Generator | None = None
) -> ClipIndices:
    """TSN-style sampling: the video is cut into ``num_frames`` equal segments and one frame is
    taken from each (a random one with ``rng``, else the segment's centre)."""
    _check_lengths(num_video_frames, num_frames)
    bounds = np.arange(num_frames + 1, dtype=np.int64) * num_video_frames // num_frames
    low = bounds[:-1]
    high = np.maximum(bounds[1:], low + 1)
    picked = rng.integers(low, high) if rng is not None else (low + high - 1) // 2
    indices = tuple(int(i) for i in picked)
    return ClipIndices(indices, max(1, num_video_frames // num_frames), indices[0])


def frame_strides(
    fps: float, stride: int, train_strides: Sequence[int], stride_seconds: float | None
) -> tuple[int, list[int]]:
    """(evaluation stride, training strides) in frames for a video at ``fps``.

    With ``stride_seconds`` the evaluation stride is ``max(1, round(stride_seconds * fps))`` and
    the training strides are scaled by the same factor (deduplicated, each >= 1); without it
    the frame strides are returned unchanged.
    """
    if stride_seconds is None:
        return stride, sorted(set(train_strides))
    if not fps > 0:
        raise DataError(f"sampling.stride_seconds needs the video frame rate, got fps={fps}")
    eval_stride = max(1, round(stride_seconds * fps))
    scaled = {max(1, round(s * eval_stride / stride)) for s in train_strides}
    return eval_stride, sorted(scaled)


@dataclass(frozen=True)
class TrainSampler:
    """Training clip sampler built from the config; ``temporal=False`` gives centre clips."""

    num_frames: int
    stride: int
    train_strides: tuple[int, ...]
    stride_seconds: float | None
    jitter_prob: float
    jitter_max: int
    short_video: ShortVideo
    temporal: bool = True

    @classmethod
    def from_config(cls, cfg: SamplingConfig, temporal: bool = True) -> TrainSampler:
        """The sampler for ``cfg``; ``temporal`` is ``augment.enabled and augment.temporal``."""
        return cls(
            num_frames=cfg.num_frames,
            stride=cfg.stride,
            train_strides=tuple(cfg.resolved_train_strides()),
            stride_seconds=cfg.resolved_stride_seconds(),
            jitter_prob=cfg.jitter_prob,
            jitter_max=cfg.jitter_max,
            short_video=cfg.short_video,
            temporal=temporal,
        )

    def __call__(self, num_video_frames: int, fps: float, rng: np.random.Generator) -> ClipIndices:
        """One training clip of a video with ``num_video_frames`` frames at ``fps``."""
        eval_stride, strides = frame_strides(
            fps, self.stride, self.train_strides, self.stride_seconds
        )
        return train_clip(
            num_video_frames,
            rng,
            num_frames=self.num_frames,
            strides=strides if self.temporal else [eval_stride],
            jitter_prob=self.jitter_prob if self.temporal else 0.0,
            jitter_max=self.jitter_max if self.temporal else 0,
            short_video=self.short_video,
            random_start=self.temporal,
        )


@dataclass(frozen=True)
class EvalSampler:
    """Evaluation sampler: ``num_clips`` uniform clips, or one TSN-style segment clip."""

    num_frames: int
    stride: int
    stride_seconds: float | None
    short_video: ShortVideo
    num_clips: int = 1
    mode: Literal["uniform", "segments"] = "uniform"

    @classmethod
    def from_config(
        cls,
        cfg: SamplingConfig,
        num_clips: int = 1,
        mode: Literal["uniform", "segments"] = "uniform",
    ) -> EvalSampler:
        """The sampler for ``cfg`` with ``num_clips`` clips (``eval.val_clips`` or
        ``eval.clips``) and ``eval.mode``."""
        return cls(
            num_frames=cfg.num_frames,
            stride=cfg.stride,
            stride_seconds=cfg.resolved_stride_seconds(),
            short_video=cfg.short_video,
            num_clips=num_clips,
            mode=mode,
        )

    def __call__(self, num_video_frames: int, fps: float) -> list[ClipIndices]:
        """The deterministic evaluation clips of a video."""
        if self.mode == "segments":
            return [segment_clip(num_video_frames, num_frames=self.num_frames)]
        stride, _ = frame_strides(fps, self.stride, [self.stride], self.stride_seconds)
        return uniform_clips(
            num_video_frames,
            num_frames=self.num_frames,
            stride=stride,
            num_clips=self.num_clips,
            short_video=self.short_video,
        )


def _check_lengths(num_video_frames: int, num_frames: int) -> None:
    if num_video_frames < 1:
        raise DataError(f"cannot sample a clip from a video with {num_video_frames} frames")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")


def _fit(positions: np.ndarray, num_video_frames: int, short_video: ShortVideo) -> tuple[int, ...]:
    """Map span positions into the video: wrap (loop) or clamp to the last frame (pad)."""
    if short_video == "loop":
        fitted = positions % num_video_frames
    else:
        fitted = np.minimum(positions, num_video_frames - 1)
    return tuple(int(i) for i in fitted)
