"""Multi-view inference: the run's eval pipeline over a list of videos, softmax averaged per video.

Shared by ``evaluate`` (labeled test sets) and ``predict`` (unlabeled files and windows). Each
video gives ``views = clips x crops`` clips (the dataset's eval mode); the model scores every
view, and a video's probabilities are the mean of its views' softmax. Unreadable videos are
set aside with their reason instead of stopping the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from motionfit.config import Config
from motionfit.data.dataset import VideoClipDataset, collate_clips, worker_init_fn
from motionfit.data.records import VideoRecord
from motionfit.data.transforms import VideoNormalize
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


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.inference_mode()
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
) -> ViewPredictions:
    """Score ``records`` with ``model`` through the eval pipeline of ``config`` (sampling,
    resize, centre or 3 crops, normalization).

    With ``diagnose`` every view is also scored frozen, shuffled and reversed (from the same
    decoded frames; the shuffle is seeded by ``train.seed`` and the video's position).

    ``batch_size`` counts clips, as ``eval.batch_size`` does: a batch holds
    ``max(1, batch_size // views)`` videos. The model is moved to ``device`` (default
    :func:`default_device`) and put in eval mode.
    """
    check_views(clips, crops)
    device = torch.device(device) if device is not None else default_device()
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
    views = num_views(config, clips, crops)
    loader = DataLoader(
        _ReadableOrReason(dataset),
        batch_size=max(1, batch_size // views),
        num_workers=num_workers,
        collate_fn=collate_views,
        worker_init_fn=worker_init_fn if num_workers else None,
    )
    normalize = VideoNormalize.from_config(config.augment).to(device)
    model.eval().to(device)
    read: list[int] = []
    chunks: list[torch.Tensor] = []
    diagnostic_chunks: dict[str, list[torch.Tensor]] = {name: [] for name in DIAGNOSTICS}
    failed: list[tuple[VideoRecord, str]] = []

    def video_probs(video: torch.Tensor) -> torch.Tensor:
        logits = model(normalize(video.flatten(0, 1)))
        return logits.float().softmax(dim=-1).view(*video.shape[:2], -1).cpu()

    with progress_bar("scoring videos", unit="videos") as bar:
        task = bar.add_task("scoring videos", total=len(records))
        for batch in loader:
            failed.extend((records[i], reason) for i, reason in batch["failed"])
            if batch["video"] is not None:
                video = batch["video"].to(device, non_blocking=True)  # [B, V, C, T, S, S]
                chunks.append(video_probs(video))
                if diagnose:
                    altered = diagnostic_views(video, batch["index"], config.train.seed)
                    for name, views_of_name in altered.items():
                        diagnostic_chunks[name].append(video_probs(views_of_name).mean(dim=1))
                read.extend(batch["index"])
            bar.advance(task, len(batch["index"]) + len(batch["failed"]))
    num_classes = _num_classes(model)
    view_probs = torch.cat(chunks) if chunks else torch.zeros(0, views, num_classes)
    return ViewPredictions(
        records=[records[i] for i in read],
        view_probs=view_probs,
        video_probs=view_probs.mean(dim=1),
        failed=failed,
        diagnostic_probs={
            name: torch.cat(found) for name, found in diagnostic_chunks.items() if found
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
