"""Multi-label scores: average precision, per-class thresholds and the F1 they give.

A multi-label run (``data.multi_label``) scores each class with its own sigmoid. Ranking
quality is the average precision per class (AP: the mean of the precision at the rank of every
positive clip, ties broken by order, as mmaction2's ``mean_average_precision``); ``map_macro``
is the mean AP over the classes that have positive clips (a class without any has no AP and is
left out, reported as null), ``map_micro`` the AP of every (clip, class) pair pooled. Decisions
need a threshold per class: :func:`choose_thresholds` picks, per class, the probability that
maximizes F1 on the run's validation videos; they are saved in ``RUN_DIR/thresholds.json`` at
the end of training (or by ``calibrate``) and used by ``evaluate``, ``predict`` and ``export``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from motionfit.atomic import atomic_write_text
from motionfit.errors import RunError

THRESHOLDS_FILE = "thresholds.json"
DEFAULT_THRESHOLD = 0.5  # a class without validation positives keeps it


def multi_hot(labels: Sequence[Sequence[int]], num_classes: int) -> torch.Tensor:
    """int64 ``[N, K]``: 1 where clip ``n`` has class ``k``."""
    out = torch.zeros(len(labels), num_classes, dtype=torch.long)
    for row, clip in enumerate(labels):
        out[row, list(clip)] = 1
    return out


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """AP of ``scores`` ``[N]`` against 0/1 ``targets`` ``[N]``: NaN without positives."""
    positives = targets.float()
    if positives.sum() == 0:
        return math.nan
    ranked = positives[torch.argsort(scores.float(), descending=True, stable=True)]
    hits = ranked.cumsum(0)
    precision = hits / torch.arange(1, len(ranked) + 1, dtype=torch.float32)
    return float((precision * ranked).sum() / ranked.sum())


def per_class_ap(probs: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """AP of each class (column) of ``probs`` ``[N, K]``; NaN for a class without positives."""
    return [average_precision(probs[:, k], targets[:, k]) for k in range(probs.shape[1])]


def map_macro(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean AP over the classes with positives (NaN if none has any)."""
    scores = [ap for ap in per_class_ap(probs, targets) if not math.isnan(ap)]
    return sum(scores) / len(scores) if scores else math.nan


def map_micro(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """AP of every (clip, class) pair pooled."""
    return average_precision(probs.flatten(), targets.flatten())


class MeanAveragePrecision(Metric):
    """mAP as a torchmetrics Metric (training's ``val/map``, ``val/map_micro``): the same
    numbers as :func:`map_macro` / :func:`map_micro` on every video of the epoch."""

    full_state_update = False
    probs: list[torch.Tensor]
    targets: list[torch.Tensor]

    def __init__(self, average: str = "macro") -> None:
        super().__init__()
        if average not in ("macro", "micro"):
            raise ValueError(f"average must be macro or micro, got {average!r}")
        self.average = average
        self.add_state("probs", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, probs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch: probabilities ``[B, K]`` and 0/1 targets ``[B, K]``."""
        self.probs.append(probs.detach().float())
        self.targets.append(targets.detach().long())

    def compute(self) -> torch.Tensor:
        """mAP of everything added since the last reset."""
        probs = dim_zero_cat(self.probs).cpu()
        targets = dim_zero_cat(self.targets).cpu()
        score = map_macro(probs, targets) if self.average == "macro" else map_micro(probs, targets)
        return torch.tensor(score)


def choose_thresholds(probs: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """Per class, the probability threshold (predict the class at or above it) with the best
    F1 on ``probs``/``targets``, the midpoint between that score and the next lower one
    (:data:`DEFAULT_THRESHOLD` for a class without positives)."""
    return [_best_threshold(probs[:, k], targets[:, k]) for k in range(probs.shape[1])]


def _best_threshold(scores: torch.Tensor, targets: torch.Tensor) -> float:
    positives = int(targets.sum())
    if positives == 0:
        return DEFAULT_THRESHOLD
    order = torch.argsort(scores.float(), descending=True, stable=True)
    ranked, sorted_scores = targets[order].float(), scores[order].float()
    hits = ranked.cumsum(0)
    predicted = torch.arange(1, len(ranked) + 1, dtype=torch.float32)
    f1 = 2 * hits / (predicted + positives)
    # a cut can only fall between different scores: the last of a run of ties
    ends = torch.ones(len(ranked), dtype=torch.bool)
    ends[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    best = int(torch.where(ends, f1, torch.tensor(-1.0)).argmax())
    below = float(sorted_scores[best + 1]) if best + 1 < len(ranked) else 0.0
    return (float(sorted_scores[best]) + below) / 2


@dataclass(frozen=True)
class ClassScores:
    """One class's multi-label scores (fractions; ``ap`` None without positives)."""

    name: str
    support: int
    predicted: int
    ap: float | None
    threshold: float
    precision: float
    recall: float
    f1: float


def class_scores(
    probs: torch.Tensor, targets: torch.Tensor, names: Sequence[str], thresholds: Sequence[float]
) -> list[ClassScores]:
    """Per class: support, AP, and precision/recall/F1 of predicting it at its threshold."""
    decided = probs >= torch.tensor(thresholds, dtype=probs.dtype)
    rows = []
    for k, name in enumerate(names):
        truth, said = targets[:, k].bool(), decided[:, k]
        hits = int((truth & said).sum())
        support, predicted = int(truth.sum()), int(said.sum())
        precision = hits / predicted if predicted else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        ap = average_precision(probs[:, k], targets[:, k])
        rows.append(
            ClassScores(
                name,
                support,
                predicted,
                None if math.isnan(ap) else ap,
                float(thresholds[k]),
                precision,
                recall,
                f1,
            )
        )
    return rows


def save_thresholds(
    path: Path, names: Sequence[str], thresholds: Sequence[float], source: str
) -> Path:
    """Write ``thresholds.json``: ``{"thresholds": {class: threshold}, "chosen_on": source}``."""
    table = {name: round(float(t), 6) for name, t in zip(names, thresholds, strict=True)}
    text = json.dumps({"thresholds": table, "chosen_on": source, "rule": "max F1"}, indent=2)
    return atomic_write_text(path, text + "\n")


def load_thresholds(path: Path, names: Sequence[str]) -> list[float]:
    """The thresholds of ``thresholds.json`` in class order (RunError if missing or not of
    these classes)."""
    if not path.is_file():
        raise RunError(
            f"{path} is missing: a multi-label run's per-class thresholds are written at the "
            "end of training; run 'motionfit calibrate RUN_DIR' to choose them"
        )
    table = json.loads(path.read_text(encoding="utf-8"))["thresholds"]
    if set(table) != set(names):
        raise RunError(f"{path}: its classes are not the run's ({', '.join(names[:5])}, ...)")
    return [float(table[name]) for name in names]
