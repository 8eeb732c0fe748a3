"""Imbalanced training data: class counts, a warning, loss weights and class-balanced draws.

``train.class_weights``: ``none``; ``balanced`` (``videos / (classes x class count)``, the
weighting of scikit-learn's ``class_weight="balanced"``); or a file of ``class weight`` lines.
``train.balanced_sampler`` draws each epoch's clips with probability inversely proportional to
their class size (with replacement), so every class is seen about equally often.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler

from motionfit.atomic import atomic_write_text
from motionfit.errors import ConfigError

IMBALANCE_RATIO = 5.0  # warn when the largest class has more than this many times the smallest


class ImbalanceWarning(UserWarning):
    """The training classes are strongly imbalanced and nothing compensates."""


def class_counts(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """Training videos per class (int64 ``[num_classes]``)."""
    return torch.bincount(torch.as_tensor(list(labels), dtype=torch.long), minlength=num_classes)


def warn_if_imbalanced(
    names: Sequence[str], counts: torch.Tensor, compensated: bool, ratio: float = IMBALANCE_RATIO
) -> bool:
    """Warn (:class:`ImbalanceWarning`) when the largest class has more than ``ratio`` times
    the videos of the smallest; returns whether the data is that imbalanced."""
    largest, smallest = int(counts.argmax()), int(counts.argmin())
    imbalanced = counts[largest] > ratio * counts[smallest]
    if imbalanced and not compensated:
        most, fewest = int(counts[largest]), int(counts[smallest])
        warnings.warn(
            f"class '{names[largest]}' has {most} training videos, "
            f"{most / max(1, fewest):.0f}x the {fewest} of "
            f"'{names[smallest]}': set train.class_weights=balanced or "
            "train.balanced_sampler=true, and read the per-class scores",
            ImbalanceWarning,
            stacklevel=2,
        )
    return bool(imbalanced)


def resolve_class_weights(
    spec: str, names: Sequence[str], counts: torch.Tensor
) -> torch.Tensor | None:
    """The cross-entropy ``weight`` for ``train.class_weights`` (``None`` for ``none``)."""
    if spec == "none":
        return None
    if spec == "balanced":
        return counts.sum() / (len(names) * counts.clamp_min(1).double()).float()
    return read_class_weights(Path(spec), names)


def read_class_weights(path: Path, names: Sequence[str]) -> torch.Tensor:
    """Weights from a file of ``class weight`` lines (space, tab or comma separated; ``#``
    comments). Every class needs exactly one positive weight."""
    key = "config key 'train.class_weights'"
    if not path.is_file():
        raise ConfigError(f"{key}: '{path}' is not none, balanced or an existing file")
    weights: dict[str, float] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"(.+?)[\s,]+([^\s,]+)", text)
        try:
            if match is None:
                raise ValueError(text)
            weights[match[1].strip()] = float(match[2])
        except ValueError:
            raise ConfigError(f"{path}:{number}: expected 'class weight', got {line!r}") from None
    unknown = sorted(set(weights) - set(names))
    missing = [n for n in names if n not in weights]
    if unknown or missing:
        problem = f"unknown classes {unknown}" if unknown else f"no weight for {missing}"
        raise ConfigError(f"{key}: {path}: {problem} (classes: {', '.join(names)})")
    if min(weights.values()) <= 0:
        raise ConfigError(f"{key}: {path}: every weight must be > 0")
    return torch.tensor([weights[n] for n in names], dtype=torch.float32)


class ClassBalancedSampler(DistributedSampler):
    """``DistributedSampler`` whose epoch is drawn class-balanced: ``total_size`` indices drawn
    with replacement, each video with probability inversely proportional to its class size,
    seeded by ``(seed, epoch)`` and sharded over ranks like the shuffled sampler."""

    def __init__(
        self, dataset: Dataset, labels: Sequence[int], num_classes: int, **kwargs: Any
    ) -> None:
        super().__init__(dataset, **kwargs)
        counts = class_counts(labels, num_classes).clamp_min(1)
        self.weights = 1.0 / counts[torch.as_tensor(list(labels), dtype=torch.long)].double()

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        draws = torch.multinomial(self.weights, self.total_size, True, generator=generator)
        return iter(draws[self.rank : self.total_size : self.num_replicas].tolist())


CLASS_BALANCE_FILE = "class_balance.csv"


def write_class_balance(
    path: Path,
    names: Sequence[str],
    counts: torch.Tensor,
    weights: torch.Tensor | None,
    balanced_sampler: bool,
) -> Path:
    """``class_balance.csv`` of a run: per class, its training videos and share, its loss
    weight and the share of training draws it gets (what the switches change)."""
    total = counts.sum().clamp_min(1)
    shares = counts.double() / total
    draws = torch.full_like(shares, 1 / len(names)) if balanced_sampler else shares
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["class", "train_videos", "video_share", "loss_weight", "draw_share"])
    for index, name in enumerate(names):
        weight = 1.0 if weights is None else float(weights[index])
        writer.writerow(
            [
                name,
                int(counts[index]),
                f"{shares[index]:.4f}",
                f"{weight:.4f}",
                f"{draws[index]:.4f}",
            ]
        )
    return atomic_write_text(path, out.getvalue())
