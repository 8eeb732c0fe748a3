"""Multi-view inference: the run's eval pipeline over a list of videos, softmax averaged per video
(per-class sigmoids for a multi-label run).

Shared by ``evaluate`` (labeled test sets) and ``predict`` (unlabeled files and windows). Each
video gives ``views = clips x crops`` clips (the dataset's eval mode); the model scores every
view, and a video's probabilities are the mean of its views' softmax. Unreadable videos are
set aside with their reason instead of stopping the run. With ``devices`` > 1 the batches are
dealt to several devices (:mod:`motionfit.devices`) and gathered back in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from motionfit.config import Config
from motionfit.data.dataset import VideoClipDataset, collate_clips, worker_init_fn
from motionfit.data.records import VideoRecord
from motionfit.data.transforms import VideoNormalize
from motionfit.devices import ModelSource, Shard, inference_devices, make_shards, run_shards
from motionfit.errors import ConfigError, VideoDecodeError
from motionfit.evaluation.diagnose import DIAGNOSTICS, diagnostic_views
from motionfit.progress import progress_bar


@dataclass
class ViewPredictions:
    """What the model said about each readable video.

    Attributes:
        records: the videos that could be read, in input order.
        view_probs: softmax of every view, ``[N, V, K]`` (V = clips x crops, clip-major).
        video_probs: the mean over views, ``[N, K]``.
        failed: ``(record, reason)`` of each video that could not be read.
        diagnostic_probs: with ``diagnose``, the video probabilities ``[N, K]`` of the frozen,
            shuffled and reversed views (:mod:`motionfit.evaluation.diagnose`).
    """

    records: list[VideoRecord]
    view_probs: torch.Tensor
    video_probs: torch.Tensor
    failed: list[tuple[VideoRecord, str]]
    diagnostic_probs: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def targets(self) -> torch.Tensor:
        """The label of each readable video, ``[N]`` (-1 = unlabeled)."""
        return torch.tensor([r.label for r in self.records], dtype=torch.long)


def num_views(config: Config, clips: int, crops: int) -> int:
    """Views per video: ``clips x crops`` (TSN ``segments`` mode samples one clip)."""
    return (1 if config.eval.mode == "segments" else clips) * crops


def check_views(clips: int, crops: int) -> None:
    """ConfigError unless ``clips >= 1`` and ``crops`` is 1 or 3."""
    if clips < 1:
        raise ConfigError(f"--clips must be >= 1 (config key 'eval.clips'), got {clips}")
    if crops not in (1, 3):
        raise ConfigError(f"--crops must be 1 or 3 (config key 'eval.crops'), got {crops}")


def load_run_model(weights: Path) -> torch.nn.Module:
    """The model of the run ``weights`` belong to (how each device's process loads a run's
    model: :func:`motionfit.run.load_run`)."""
    from motionfit.run import load_run

    return load_run(weights).model


def predict_views(
    model: torch.nn.Module,
    config: Config,
    records: Sequence[VideoRecord],
    *,
    clips: int,
    crops: int,
    batch_size: int,
    num_workers: int = 0,
    device: torch.device | str | None = None,
    diagnose: bool = False,
    devices: int = 1,
    model_source: ModelSource | None = None,
) -> ViewPredictions:
    """Score ``records`` with ``model`` through the eval pipeline of ``config`` (sampling,
    resize, centre or 3 crops, normalization).

    With ``diagnose`` every view is also scored frozen, shuffled and reversed (from the same
    decoded frames; the shuffle is seeded by ``train.seed`` and the video's position).

    ``batch_size`` counts clips, as ``eval.batch_size`` does: a batch holds
    ``max(1, batch_size // views)`` videos. The model is moved to ``device`` (default
    :func:`~motionfit.devices.default_device`) and put in eval mode.

    ``devices`` > 1 deals the batches to that many devices of ``device``'s kind, one process
    each (:mod:`motionfit.devices`; ``num_workers`` decoding processes each), and gathers the
    same probabilities in input order; each process gets its model from ``model_source``
    (e.g. ``partial(load_run_model, weights)``; default: ``model``, copied through shared
    memory).
    """
    check_views(clips, crops)
    views = num_views(config, clips, crops)
    per_batch = max(1, batch_size // views)
    shards = make_shards(inference_devices(devices, device), len(records), per_batch)
    source = model if len(shards) == 1 or model_source is None else model_source
    task = partial(
        _score_shard, source, config, list(records), clips, crops, per_batch, num_workers, diagnose
    )
    gathered = _Gathered()
    with progress_bar("scoring videos", unit="videos") as bar:
        progress = bar.add_task("scoring videos", total=len(records))

        def receive(scored: ScoredBatch) -> None:
            gathered.add(scored)
            bar.advance(progress, len(scored.index) + len(scored.failed))

        run_shards(task, shards, receive)
    return gathered.predictions(records, views, _num_classes(model))


@dataclass(frozen=True)
class ScoredBatch:
    """What one device sends per batch: ``index`` of the readable videos, their softmax per
    view ``[B, V, K]`` (None when none was readable), the diagnostic video probabilities
    ``{name: [B, K]}`` and ``(index, reason)`` of the unreadable ones."""

    index: list[int]
    view_probs: np.ndarray | None
    diagnostic: dict[str, np.ndarray]
    failed: list[tuple[int, str]]


@torch.inference_mode()
def _score_shard(
    source: ModelSource,
    config: Config,
    records: list[VideoRecord],
    clips: int,
    crops: int,
    per_batch: int,
    num_workers: int,
    diagnose: bool,
    shard: Shard,
    send: Callable[[ScoredBatch], None],
) -> None:
    """Score the videos of ``shard`` (indices into ``records``), one :class:`ScoredBatch` per
    batch of ``per_batch`` videos."""
    dataset = VideoClipDataset(
        records,
        mode="eval",
        sampling=config.sampling,
        augment=config.augment,
        num_clips=clips,
        crops=crops,
        eval_mode=config.eval.mode,
        decoder=config.data.decoder,
        bad_files="error",
    )
    loader = DataLoader(
        Subset(_ReadableOrReason(dataset), shard.indices),  # items keep their input index
        batch_size=per_batch,
        num_workers=num_workers,
        collate_fn=collate_views,
        worker_init_fn=worker_init_fn if num_workers else None,
    )
    device = shard.device
    model = source if isinstance(source, torch.nn.Module) else source()
    normalize = VideoNormalize.from_config(config.augment).to(device)
    model.eval().to(device)

    def video_probs(video: torch.Tensor) -> torch.Tensor:
        logits = model(normalize(video.flatten(0, 1))).float()
        scores = logits.sigmoid() if config.data.multi_label else logits.softmax(dim=-1)
        return scores.view(*video.shape[:2], -1).cpu()

    for batch in loader:
        probs, diagnostic = None, {}
        if batch["video"] is not None:
            video = batch["video"].to(device, non_blocking=True)  # [B, V, C, T, S, S]
            probs = video_probs(video).numpy()
            if diagnose:
                altered = diagnostic_views(video, batch["index"], config.train.seed)
                diagnostic = {
                    name: video_probs(views_of_name).mean(dim=1).numpy()
                    for name, views_of_name in altered.items()
                }
        send(ScoredBatch(batch["index"], probs, diagnostic, batch["failed"]))


class _Gathered:
    """The batches of every device, put back in input order."""

    def __init__(self) -> None:
        self.view_probs: dict[int, np.ndarray] = {}
        self.diagnostic: dict[str, dict[int, np.ndarray]] = {name: {} for name in DIAGNOSTICS}
        self.failed: dict[int, str] = {}

    def add(self, scored: ScoredBatch) -> None:
        """Keep one batch's results under their input indices."""
        self.failed.update(scored.failed)
        if scored.view_probs is not None:
            self.view_probs.update(zip(scored.index, scored.view_probs, strict=True))
        for name, probs in scored.diagnostic.items():
            self.diagnostic[name].update(zip(scored.index, probs, strict=True))

    def predictions(
        self, records: Sequence[VideoRecord], views: int, num_classes: int
    ) -> ViewPredictions:
        """Everything gathered as :class:`ViewPredictions` (readable videos in input order)."""
        read = sorted(self.view_probs)
        view_probs = (
            torch.from_numpy(np.stack([self.view_probs[i] for i in read]))
            if read
            else torch.zeros(0, views, num_classes)
        )
        return ViewPredictions(
            records=[records[i] for i in read],
            view_probs=view_probs,
            video_probs=view_probs.mean(dim=1),
            failed=[(records[i], self.failed[i]) for i in sorted(self.failed)],
            diagnostic_probs={
                name: torch.from_numpy(np.stack([found[i] for i in read]))
                for name, found in self.diagnostic.items()
                if found
            },
        )


class _ReadableOrReason(Dataset):
    """The eval dataset, with an unreadable video turned into ``{"index", "error"}`` so the
    loader keeps going (the dataset's own skip policy would substitute another video)."""

    def __init__(self, dataset: VideoClipDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            return self.dataset[index]
        except VideoDecodeError as exc:
            return {"index": index, "error": " ".join(str(exc).split())}


def collate_views(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch the readable items with the dataset's ``collate_clips`` (``video`` uint8
    ``[B, V, C, T, S, S]``, or None when every item failed); ``index`` lists their dataset
    positions and ``failed`` the ``(index, reason)`` of the others."""
    good = [item for item in items if "error" not in item]
    failed = [(int(item["index"]), item["error"]) for item in items if "error" in item]
    if not good:
        return {"video": None, "index": [], "failed": failed}
    batch = collate_clips(good)
    return {"video": batch["video"], "index": batch["index"].tolist(), "failed": failed}


def _num_classes(model: torch.nn.Module) -> int:
    head = getattr(model, "head", None)
    return int(getattr(head, "num_classes", 0))
