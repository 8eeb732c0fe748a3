"""The map-style clip Dataset: record -> temporal sampler -> window decoder -> spatial transform,
giving uint8 clips (normalized later, on the batch, by ``transforms.VideoNormalize``).

Frames are decoded at the source's own size unless it is much larger than needed
(``transforms.decode_short_side``), so each clip is resized once. Every random choice of item
``i`` comes from ``np.random.default_rng([seed, epoch, i])`` (and a ``torch.Generator`` seeded
from it), so a sample never depends on the number of DataLoader workers or the order they run
in. Unreadable videos are skipped (or raise) per ``bad_files``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from motionfit.config import AugmentConfig, SamplingConfig
from motionfit.data.augment import ClipTemporalAugmentation, build_stage
from motionfit.data.decode import (
    BACKENDS,
    VideoMeta,
    available_backends,
    probe,
    read_clip,
    timeline_frames,
)
from motionfit.data.prepare import use_manifests
from motionfit.data.records import VideoRecord
from motionfit.data.sampling import ClipIndices, EvalSampler, TrainSampler, frame_strides
from motionfit.data.transforms import (
    EvalClipTransform,
    EvalTransform,
    TrainClipTransform,
    TrainTransform,
    decode_short_side,
    stack_clips,
)
from motionfit.errors import ConfigError, DataError, VideoDecodeError
from motionfit.stopping import ignore_stop_signals

MAX_ATTEMPTS = 20  # draws of a replacement before giving up on an item


class BadVideoWarning(UserWarning):
    """A video was skipped because it cannot be read (``data.bad_files: skip``)."""


def worker_init_fn(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one intra-op thread per worker (the workers are the
    parallelism; more threads per worker oversubscribe the cores); SIGTERM and SIGINT sent to
    the process group are left to the main process, which stops training at its next step and
    then the workers, and a worker ends with the main process (:mod:`motionfit.stopping`)."""
    del worker_id
    torch.set_num_threads(1)
    ignore_stop_signals()


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """``default_collate`` for :class:`VideoClipDataset` items that keeps the clips' channels-last
    memory: one plain copy per clip instead of a transposing one (~1.5 ms per 16x224x224 clip
    here). ``video`` is uint8 ``[B, C, T, S, S]`` (or ``[B, R|V, C, T, S, S]``), not contiguous;
    :class:`~motionfit.data.transforms.VideoNormalize` returns it contiguous.

    Items of videos left out (``leave_out_bad``) are dropped; a batch of only such items is
    ``{"video": None, "label": None, "index": None}``."""
    items = [item for item in items if "error" not in item]
    if not items:
        return {"video": None, "label": None, "index": None}
    memory = [item["video"].movedim(-4, -1) for item in items]  # [..., T, S, S, C] views
    rest = default_collate([{k: v for k, v in item.items() if k != "video"} for item in items])
    return {"video": default_collate(memory).movedim(-1, -4), **rest}


def resolve_decoder(decoder: str) -> str:
    """The decoding backend for a ``data.decoder`` value (``auto`` = torchcodec if it works).
    Only ``auto`` and ``torchcodec`` import torchcodec (seconds) to check it."""
    if decoder == "pyav":
        return decoder
    if decoder not in BACKENDS:
        raise ConfigError(
            f"config key 'data.decoder': unknown decoder {decoder!r} (choose one of "
            f"{', '.join(BACKENDS)})"
        )
    backends = available_backends()
    if decoder == "auto":
        return "torchcodec" if "torchcodec" in backends else "pyav"
    if decoder not in backends:
        raise ConfigError(
            f"config key 'data.decoder': {decoder!r} does not work here "
            f"(available: {', '.join(backends)})"
        )
    return decoder


class VideoClipDataset(Dataset):
    """Clips of ``records`` ready for a model.

    ``mode="train"``: one randomly sampled and augmented clip per item, ``{"video": uint8
    [C, T, S, S], "label": int, "index": int}``; the label goes through ``flip_map`` when the
    clip was mirrored. The registered clip-temporal augmentations that ``augment`` turns on
    (:mod:`motionfit.data.augment`; ``class_names`` for their label maps) run on the decoded
    frames first and may change the label. With ``repeated=R > 1`` the item holds R clips
    augmented independently from one decoded window: ``video`` is ``[R, C, T, S, S]`` and
    ``label`` a LongTensor ``[R]`` (a flip can change one clip's label).

    ``multi_label`` (with ``num_classes``): ``label`` is the clip's multi-hot float target
    ``[K]`` (``[R, K]`` repeated) in both modes; a flip maps every label through ``flip_map``.
    Clip-temporal augmentations map a single label, so they are refused with multi-label data.

    ``mode="eval"``: ``num_clips`` uniform clips (or one TSN segment clip when
    ``eval_mode="segments"``) times ``crops`` spatial crops, ``video`` ``[clips*crops, C, T, S,
    S]``, clip-major.

    Clips are views of channels-last memory (see :mod:`motionfit.data.transforms`): batch them
    with :func:`collate_clips` and normalize the batch with ``VideoNormalize`` on the device.

    ``train_transform`` (a :data:`~motionfit.data.transforms.TrainClipTransform`, called as
    ``(frames, generator) -> (clip, flipped)`` with the item's ``torch.Generator``) and
    ``eval_transform`` (an :data:`~motionfit.data.transforms.EvalClipTransform`, ``frames ->
    views``) replace the :class:`TrainTransform` and :class:`EvalTransform` built from
    ``augment`` (and ``crops``). They get uint8 ``[T, C, H, W]`` frames decoded at the size
    ``augment`` asks for.

    A record's ``start``/``end`` restrict sampling to that segment. Unreadable videos
    (missing, empty, truncated, not a video, no video stream): ``bad_files="error"`` raises
    VideoDecodeError; ``"skip"`` warns once per file, appends ``path<TAB>reason`` to
    ``bad_file_log`` (once per file) and returns another item drawn from the item's generator
    (its ``index`` is the video actually returned), or, with ``leave_out_bad`` (validation),
    ``{"index": index, "error": reason}``, which :func:`collate_clips` drops, so no video is
    scored twice. More than ``max_bad_fraction`` distinct bad videos raises DataError; with
    several workers the count is taken from the shared ``bad_file_log`` (without a log each
    worker counts its own).
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        *,
        mode: Literal["train", "eval"],
        sampling: SamplingConfig,
        augment: AugmentConfig,
        seed: int = 0,
        num_clips: int = 1,
        crops: int = 1,
        eval_mode: Literal["uniform", "segments"] = "uniform",
        flip_map: dict[int, int] | None = None,
        decoder: str = "pyav",
        bad_files: Literal["skip", "error"] = "skip",
        max_bad_fraction: float = 0.05,
        bad_file_log: Path | None = None,
        repeated: int = 1,
        leave_out_bad: bool = False,
        train_transform: TrainClipTransform | None = None,
        eval_transform: EvalClipTransform | None = None,
        class_names: Sequence[str] = (),
        multi_label: bool = False,
        num_classes: int = 0,
    ) -> None:
        if not records:
            raise DataError("the dataset has no videos")
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if bad_files not in ("skip", "error"):
            raise ValueError(f"bad_files must be 'skip' or 'error', got {bad_files!r}")
        if repeated < 1 or (mode == "eval" and repeated != 1):
            raise ValueError(f"repeated must be >= 1 and is for training only, got {repeated}")
        self.records = list(records)
        use_manifests(r.path for r in self.records)  # prepared copies: no probing
        self.mode = mode
        self.seed = seed
        self.sampling = sampling
        self.flip_map = dict(flip_map or {})
        self.decoder = resolve_decoder(decoder)
        self.short_side = augment.resolved_short_side()  # decoded frames' target short side
        self.bad_files = bad_files
        self.max_bad_fraction = max_bad_fraction
        self.bad_file_log = Path(bad_file_log) if bad_file_log is not None else None
        self.repeated = repeated
        self.leave_out_bad = leave_out_bad
        self.temporal = augment.enabled and augment.temporal
        self.train_sampler = TrainSampler.from_config(sampling, temporal=self.temporal)
        self.eval_sampler = EvalSampler.from_config(sampling, num_clips=num_clips, mode=eval_mode)
        self.train_transform: TrainClipTransform = (
            TrainTransform(augment) if train_transform is None else train_transform
        )
        self.eval_transform: EvalClipTransform = (
            EvalTransform(augment, crops=crops) if eval_transform is None else eval_transform
        )
        temporal_stage = (
            build_stage(augment, "clip-temporal", tuple(class_names)) if mode == "train" else []
        )
        self.clip_augments = [s for s in temporal_stage if isinstance(s, ClipTemporalAugmentation)]
        if multi_label and self.clip_augments:
            raise ConfigError(
                f"config key 'augment.{self.clip_augments[0].name}': clip-temporal augmentations "
                "map a single label; turn them off for multi-label data (data.multi_label)"
            )
        if multi_label and num_classes < 1:
            raise ValueError("multi_label needs num_classes")
        self.multi_label = multi_label
        self.num_classes = num_classes
        # shared memory, so persistent DataLoader workers see set_epoch from the main process
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._bad: dict[str, str] = {}  # this process's bad videos: path -> reason

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random clips and augmentations items get."""
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The clip(s) of item ``index`` for the current epoch (see the class docstring)."""
        epoch = int(self._epoch)
        for attempt in range(MAX_ATTEMPTS):
            key = [self.seed % 2**64, epoch, index] + ([attempt] if attempt else [])
            rng = np.random.default_rng(key)
            target = index if attempt == 0 else int(rng.integers(len(self.records)))
            record = self.records[target]
            known = self._bad.get(str(record.path))
            if known is None:
                try:
                    return self._load(target, record, rng)
                except VideoDecodeError as exc:
                    if self.bad_files == "error":
                        raise
                    known = self._skip(record, exc)
            # a known bad video fails again: same outcome, no decode
            if self.leave_out_bad:
                return {"index": index, "error": known}
        raise DataError(
            f"no readable video found for item {index} in {MAX_ATTEMPTS} draws "
            f"({len(self._bad)} bad videos seen)"
        )

    # -----------------------------------------------------------------------------------------

    def _load(self, index: int, record: VideoRecord, rng: np.random.Generator) -> dict[str, Any]:
        meta = probe(record.path, self.sampling.frames_fps)
        first, length = _segment_frames(record, meta)
        short_side = decode_short_side(meta.width, meta.height, self.short_side)
        if self.mode == "eval":
            clips = self.eval_sampler(length, meta.fps)
            frames = self._decode(record.path, clips, first, short_side)
            video = torch.cat([self.eval_transform(clip) for clip in frames])  # keeps the layout
            label = self._multi_hot(record.labels) if self.multi_label else record.label
            return {"video": video, "label": label, "index": index}
        generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
        if self.repeated == 1:
            clips = [self.train_sampler(length, meta.fps, rng)]
        else:
            clips = self._repeated_clips(length, meta.fps, rng)
        if self.multi_label:
            return self._load_multi_label(index, record, clips, first, short_side, generator)
        videos, labels = [], []
        for clip in self._decode(record.path, clips, first, short_side):
            label = record.label
            for step in self.clip_augments:
                clip, label = step(clip, label, generator)
            video, flipped = self.train_transform(clip, generator)
            videos.append(video)
            labels.append(self.flip_map.get(label, label) if flipped else label)
        if self.repeated == 1:
            return {"video": videos[0], "label": labels[0], "index": index}
        return {"video": stack_clips(videos), "label": torch.tensor(labels), "index": index}

    def _load_multi_label(
        self,
        index: int,
        record: VideoRecord,
        clips: list[ClipIndices],
        first: int,
        short_side: int | None,
        generator: torch.Generator,
    ) -> dict[str, Any]:
        """Training clips of a multi-label record: multi-hot targets, every label flipped."""
        videos, targets = [], []
        for clip in self._decode(record.path, clips, first, short_side):
            video, flipped = self.train_transform(clip, generator)
            labels = [self.flip_map.get(k, k) for k in record.labels] if flipped else record.labels
            videos.append(video)
            targets.append(self._multi_hot(labels))
        if self.repeated == 1:
            return {"video": videos[0], "label": targets[0], "index": index}
        return {"video": stack_clips(videos), "label": torch.stack(targets), "index": index}

    def _multi_hot(self, labels: Sequence[int]) -> torch.Tensor:
        """float ``[K]``: 1 at the clip's classes."""
        target = torch.zeros(self.num_classes)
        target[list(labels)] = 1.0
        return target

    def _repeated_clips(
        self, length: int, fps: float, rng: np.random.Generator
    ) -> list[ClipIndices]:
        """R training clips inside one random window as long as the longest possible clip, so
        the R clips cost one decode."""
        cfg = self.sampling
        eval_stride, strides = frame_strides(
            fps, cfg.stride, self.train_sampler.train_strides, cfg.resolved_stride_seconds()
        )
        stride = max(strides) if self.temporal else eval_stride
        jitter = cfg.jitter_max if self.temporal and cfg.jitter_prob > 0 else 0
        window = min(length, (cfg.num_frames - 1 + jitter) * stride + 1)
        start = int(rng.integers(length - window + 1)) if self.temporal else (length - window) // 2
        clips = [self.train_sampler(window, fps, rng) for _ in range(self.repeated)]
        return [_shift(clip, start) for clip in clips]

    def _decode(
        self, path: Path, clips: list[ClipIndices], first: int, short_side: int | None
    ) -> list[torch.Tensor]:
        """uint8 ``[T, C, H, W]`` per clip; clips whose frame spans overlap share one decode."""
        out: list[torch.Tensor] = [torch.empty(0)] * len(clips)
        for group in _overlapping_groups(clips):
            if len(group) == 1:
                out[group[0]] = self._read(path, clips[group[0]].indices, first, short_side)
                continue
            wanted = sorted({i for c in group for i in clips[c].indices})
            frames = self._read(path, wanted, first, short_side)
            position = {frame: row for row, frame in enumerate(wanted)}
            for c in group:
                out[c] = frames[[position[i] for i in clips[c].indices]]
        return out

    def _read(
        self, path: Path, indices: Sequence[int], first: int, short_side: int | None
    ) -> torch.Tensor:
        frames = timeline_frames(path, [first + i for i in indices])  # by time at a variable rate
        return read_clip(path, frames, short_side=short_side, backend=self.decoder)

    def _skip(self, record: VideoRecord, exc: VideoDecodeError) -> str:
        """Count, warn about and log one bad video (each file once in the log); DataError
        above ``max_bad_fraction``. Returns the reason."""
        path = str(record.path)
        reason = " ".join(str(exc).split()).removeprefix(f"{path}: ")
        self._bad[path] = reason
        warnings.warn(f"skipping unreadable video {path}: {reason}", BadVideoWarning, stacklevel=3)
        if self.bad_file_log is not None and path not in self._logged_paths():
            self.bad_file_log.parent.mkdir(parents=True, exist_ok=True)
            with self.bad_file_log.open("a", encoding="utf-8") as log:
                log.write(f"{path}\t{reason}\n")
        bad = self._distinct_bad()
        if bad > self.max_bad_fraction * len(self.records):
            where = f"; see {self.bad_file_log}" if self.bad_file_log is not None else ""
            raise DataError(
                f"{bad} of {len(self.records)} videos are unreadable ({bad / len(self.records):.1%}"
                f"), above data.max_bad_fraction={self.max_bad_fraction:g}{where}"
            )
        return reason

    def _logged_paths(self) -> set[str]:
        """Paths in ``bad_file_log`` (any worker's, any dataset's)."""
        if self.bad_file_log is None or not self.bad_file_log.exists():
            return set()
        lines = self.bad_file_log.read_text(encoding="utf-8").splitlines()
        return {line.split("\t", 1)[0] for line in lines}

    def _distinct_bad(self) -> int:
        """Distinct bad videos of this dataset seen by this process or logged by any worker."""
        ours = {str(r.path) for r in self.records}
        return len(set(self._bad) | (self._logged_paths() & ours))


def _segment_frames(record: VideoRecord, meta: VideoMeta) -> tuple[int, int]:
    """(first frame, number of frames) of the record's segment, or of the whole video."""
    if record.start is None or record.end is None:
        return 0, meta.num_frames
    first = round(record.start * meta.fps)
    stop = min(meta.num_frames, round(record.end * meta.fps))
    if first >= meta.num_frames:
        raise VideoDecodeError(
            f"{record.path}: segment {record.start:g}-{record.end:g} s starts after the video "
            f"ends ({meta.duration:.2f} s)"
        )
    return first, max(1, stop - first)


def _shift(clip: ClipIndices, offset: int) -> ClipIndices:
    return ClipIndices(
        tuple(i + offset for i in clip.indices), clip.stride, clip.start + offset, clip.jittered
    )


def _overlapping_groups(clips: list[ClipIndices]) -> list[list[int]]:
    """Clip positions grouped so that clips with overlapping [min, max] frame spans share a
    group (one decode each); far-apart clips get their own seek."""
    order = sorted(range(len(clips)), key=lambda c: min(clips[c].indices))
    groups: list[list[int]] = []
    end = -math.inf
    for c in order:
        if min(clips[c].indices) > end:
            groups.append([])
        groups[-1].append(c)
        end = max(end, max(clips[c].indices))
    return groups
