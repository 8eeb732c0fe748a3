"""Classification metrics of a multi-view evaluation, computed with torchmetrics.

Accuracies are fractions. ``mean_class_accuracy`` is the mean recall over the classes that
have at least one test video (a class absent from the test set has no accuracy to average);
the ``macro_*`` scores average over the classes that occur as truth or as prediction, as
scikit-learn does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

TOP_K = 5


@dataclass(frozen=True)
class ClassMetrics:
    """Scores of one class (``recall`` is the class accuracy)."""

    name: str
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Confusion:
    """An off-diagonal cell of the confusion matrix."""

    truth: str
    prediction: str
    count: int


@dataclass
class EvalMetrics:
    """Video- and clip-level scores of one evaluation.

    ``top5`` is top-``top_k`` accuracy with ``top_k = min(5, num_classes)``. ``confusion`` is
    the count matrix, rows = true class, columns = predicted class, in label-map order.
    """

    top1: float
    top5: float
    top_k: int
    mean_class_accuracy: float
    clip_top1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    num_videos: int
    num_classes: int
    views_per_video: int
    labels: list[str]
    per_class: list[ClassMetrics]
    confusion: list[list[int]]
    top_confusions: list[Confusion] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (``video_top1`` repeats ``top1`` for readers of clip vs video
        accuracy)."""
        out = asdict(self)
        out["video_top1"] = self.top1
        return out


def compute_metrics(
    video_probs: torch.Tensor,
    view_probs: torch.Tensor,
    targets: torch.Tensor,
    class_names: Sequence[str],
    max_confusions: int = 20,
) -> EvalMetrics:
    """Scores from per-video probabilities ``[N, K]``, per-view probabilities ``[N, V, K]`` and
    true class ids ``[N]``; ``max_confusions`` bounds the list of most frequent mistakes."""
    num_classes = len(class_names)
    if video_probs.shape[0] == 0:
        raise ValueError("no videos to score")
    if num_classes < 2 or video_probs.shape[-1] != num_classes:
        raise ValueError(f"need >= 2 classes matching the probabilities, got {num_classes}")
    top_k = min(TOP_K, num_classes)
    video_probs, view_probs = video_probs.double(), view_probs.double()  # exact fractions
    common: dict[str, Any] = {"num_classes": num_classes, "validate_args": False}
    recall = multiclass_recall(video_probs, targets, average="none", **common)
    precision = multiclass_precision(video_probs, targets, average="none", **common)
    f1 = multiclass_f1_score(video_probs, targets, average="none", **common)
    confusion = multiclass_confusion_matrix(video_probs, targets, **common)
    support = confusion.sum(dim=1)
    present = support > 0
    seen = present | (confusion.sum(dim=0) > 0)
    views = view_probs.shape[1]
    per_class = [
        ClassMetrics(
            name=name,
            support=int(support[k]),
            predicted=int(confusion[:, k].sum()),
            precision=float(precision[k]),
            recall=float(recall[k]),
            f1=float(f1[k]),
        )
        for k, name in enumerate(class_names)
    ]
    return EvalMetrics(
        top1=float(multiclass_accuracy(video_probs, targets, average="micro", **common)),
        top5=float(
            multiclass_accuracy(video_probs, targets, average="micro", top_k=top_k, **common)
        ),
        top_k=top_k,
        mean_class_accuracy=float(recall[present].mean()),
        clip_top1=float(
            multiclass_accuracy(
                view_probs.flatten(0, 1),
                targets.repeat_interleave(views),
                average="micro",
                **common,
            )
        ),
        macro_precision=float(precision[seen].mean()),
        macro_recall=float(recall[seen].mean()),
        macro_f1=float(f1[seen].mean()),
        num_videos=int(targets.numel()),
        num_classes=num_classes,
        views_per_video=views,
        labels=list(class_names),
        per_class=per_class,
        confusion=confusion.tolist(),
        top_confusions=most_confused(confusion, class_names, max_confusions),
    )


def most_confused(
    confusion: torch.Tensor, class_names: Sequence[str], limit: int
) -> list[Confusion]:
    """The ``limit`` largest off-diagonal cells, largest first (ties in class order)."""
    off = confusion.clone()
    off.fill_diagonal_(0)
    counts, flat = off.flatten().sort(descending=True, stable=True)
    size = confusion.shape[1]
    return [
        Confusion(class_names[int(i) // size], class_names[int(i) % size], int(c))
        for c, i in zip(counts[:limit], flat[:limit], strict=True)
        if c > 0
    ]
