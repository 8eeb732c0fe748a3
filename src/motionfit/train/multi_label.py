"""Multi-label training (``data.multi_label``): several classes per clip.

What changes against single-label training: the targets are multi-hot, the loss is the sigmoid
binary cross-entropy per class (:func:`multi_label_loss`; label smoothing pulls every target
towards 1/2: ``y * (1 - eps) + eps / 2``), ``train.class_weights: balanced`` weighs each class's
positives by its negatives / positives (:func:`positive_weights`, BCE's ``pos_weight``), and
validation reports mAP (macro, the monitor ``val/map``, and micro) instead of top-1. The run
is multi-label when the config says so or when a row of its training list names several
classes (:func:`resolve_multi_label`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from motionfit.config import Config
from motionfit.data.records import read_records
from motionfit.errors import ConfigError

MULTI_LABEL_METRICS = {
    "train_loss": "train/loss",
    "clean_train_map": "clean_train/map",
    "val_loss": "val/loss",
    "val_map": "val/map",
    "val_map_micro": "val/map_micro",
    "data_wait": "train/data_wait",  # share of step time waiting for data (train/timing.py)
}
SINGLE_LABEL_MONITOR, MULTI_LABEL_MONITOR = "val/top1", "val/map"
MAX_POS_WEIGHT = 100.0  # a class in 1 of 10,000 clips would otherwise weigh 10,000x


def resolve_multi_label(config: Config) -> Config:
    """``config`` with ``data.multi_label`` set when a row of ``data.source`` (or ``data.val``)
    names several classes, and the default monitor ``val/top1`` replaced by ``val/map``. A
    single-label-only setting (``train.balanced_sampler``, a class-weights file) is a
    ConfigError for multi-label data."""
    data = config.data
    multi = data.multi_label or any(
        any(r.more_labels for r in read_records(source, data.format, data.video_root)[0])
        for source in (data.source, data.val)
        if source is not None and _may_be_multi_label(source, data.format)
    )
    if not multi:
        return config
    train = config.train
    if train.balanced_sampler:
        raise ConfigError(
            "config key 'train.balanced_sampler': class-balanced draws need one class per clip; "
            "use train.class_weights=balanced (BCE pos_weight) for multi-label data"
        )
    if train.class_weights not in ("none", "balanced"):
        raise ConfigError(
            "config key 'train.class_weights': a weights file is for single-label data; use "
            "none or balanced (BCE pos_weight) for multi-label data"
        )
    monitor = MULTI_LABEL_MONITOR if train.monitor == SINGLE_LABEL_MONITOR else train.monitor
    return config.model_copy(
        update={
            "data": data.model_copy(update={"multi_label": True}),
            "train": train.model_copy(update={"monitor": monitor}),
        }
    )


def refuse_multi_label(config: Config, command: str) -> None:
    """ConfigError when ``config``'s data is multi-label: ``command`` compares single-label
    scores (top-1)."""
    if resolve_multi_label(config).data.multi_label:
        raise ConfigError(
            f"config key 'data.multi_label': {command} compares top-1 scores of single-label "
            "runs; train a multi-label run with motionfit train"
        )


def _may_be_multi_label(source: str, format: str) -> bool:
    """Only list files hold several labels per row (folder trees and split files one)."""
    from motionfit.data.formats import guess_format, split_selector

    path, selector = split_selector(source)
    if format != "auto":
        return format == "list"
    return not selector and path.exists() and guess_format(path) == "list"


def multi_label_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    smoothing: float = 0.0,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean sigmoid binary cross-entropy of ``logits`` ``[B, K]`` against (soft, multi-hot)
    ``targets`` ``[B, K]``, smoothed to ``targets * (1 - smoothing) + smoothing / 2``, each
    class's positive term weighted by ``pos_weight`` ``[K]``."""
    smoothed = targets * (1.0 - smoothing) + smoothing / 2
    return F.binary_cross_entropy_with_logits(logits, smoothed, pos_weight=pos_weight)


def probability_bce(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of probabilities ``[B, K]`` (e.g. view-averaged sigmoids) for
    0/1 ``targets``, in float32 (``F.binary_cross_entropy`` refuses to run under autocast)."""
    p = probs.float().clamp(1e-7, 1 - 1e-7)
    t = targets.float()
    return -(t * p.log() + (1 - t) * (1 - p).log()).mean()


def positive_weights(positives: torch.Tensor, videos: int) -> torch.Tensor:
    """BCE ``pos_weight`` of ``train.class_weights: balanced``: per class, the training clips
    without it over those with it, clipped to ``[1 / MAX_POS_WEIGHT, MAX_POS_WEIGHT]``."""
    positives = positives.double()
    ratio = (videos - positives) / positives.clamp_min(1)
    return ratio.clamp(1 / MAX_POS_WEIGHT, MAX_POS_WEIGHT).float()


def label_counts(labels: list[tuple[int, ...]], num_classes: int) -> torch.Tensor:
    """Training clips per class, every label of a clip counted (int64 ``[num_classes]``)."""
    flat = torch.as_tensor([k for clip in labels for k in clip], dtype=torch.long)
    return torch.bincount(flat, minlength=num_classes)
