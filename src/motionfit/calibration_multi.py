"""Calibration of a multi-label run: one temperature per class, and the per-class thresholds.

Each class of a multi-label run has its own sigmoid, so each gets its own temperature ``T_k``
(temperature scaling of Guo et al. 2017 applied per binary problem, i.e. Platt scaling without
the bias): the view-averaged probability ``p`` is reported as ``sigmoid(logit(p) / T_k)``,
``T_k`` minimizing the class's binary cross-entropy on labeled videos. It changes no ranking
and no decision: the thresholds (``thresholds.json``, chosen again on the same videos, F1 at
most) apply to the uncalibrated ``p``. ``motionfit calibrate RUN`` writes both;
``calibration.json`` then holds ``temperatures`` (per class) instead of ``temperature``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from motionfit.atomic import atomic_write_text
from motionfit.calibration import CALIBRATION_FILE, MIN_VIDEOS, T_MAX, T_MIN
from motionfit.data.records import VideoRecord
from motionfit.errors import DataError
from motionfit.evaluation.evaluate_multi import fit_thresholds, label_sets
from motionfit.evaluation.inference import predict_views
from motionfit.run import LoadedRun

_BISECTIONS = 60


def fit_class_temperature(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """The ``T`` in ``[T_MIN, T_MAX]`` minimizing the BCE of ``sigmoid(logit(probs) / T)``
    against 0/1 ``targets`` (both ``[N]``); a bound when the minimum lies beyond it. The loss is
    convex in ``1 / T``: bisect on the sign of its slope."""
    logits = torch.logit(probs.double().clamp(1e-6, 1 - 1e-6))
    truth = targets.double()

    def slope(scale: float) -> float:
        """d BCE / d(1 / T) at ``1 / T = scale``."""
        return float(((torch.sigmoid(scale * logits) - truth) * logits).mean())

    low, high = 1 / T_MAX, 1 / T_MIN  # the scale 1 / T
    if slope(low) >= 0:
        return T_MAX
    if slope(high) <= 0:
        return T_MIN
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        low, high = (middle, high) if slope(middle) < 0 else (low, middle)
    return 1 / ((low + high) / 2)


def apply_class_temperatures(probs: torch.Tensor, temperatures: list[float]) -> torch.Tensor:
    """``sigmoid(logit(probs) / T_k)`` per class (column)."""
    scale = 1 / torch.tensor(temperatures, dtype=torch.float64)
    logits = torch.logit(probs.double().clamp(1e-6, 1 - 1e-6))
    return torch.sigmoid(logits * scale).to(probs.dtype)


def mean_bce(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Binary cross-entropy averaged over videos and classes."""
    clamped = probs.double().clamp(1e-6, 1 - 1e-6)
    return round(float(F.binary_cross_entropy(clamped, targets.double())), 5)


def calibrate_multi_label(
    run: LoadedRun, records: list[VideoRecord], source: str, num_workers: int = 0
) -> dict[str, Any]:
    """Score labeled ``records`` with the run's eval views, fit one temperature per class and
    choose the thresholds again; write ``calibration.json`` and ``thresholds.json`` into the
    run and return what ``calibration.json`` holds. DataError (nothing written) below
    ``MIN_VIDEOS`` readable videos."""
    cfg = run.config
    views = predict_views(
        run.model,
        cfg,
        records,
        clips=cfg.eval.clips,
        crops=cfg.eval.crops,
        batch_size=cfg.eval.batch_size,
        num_workers=num_workers,
    )
    videos = len(views.records)
    if videos < MIN_VIDEOS:
        raise DataError(
            f"{source}: cannot calibrate on {videos} videos: calibration needs at least "
            f"{MIN_VIDEOS} labeled validation videos; pass --data with more videos"
        )
    probs, truth = views.video_probs, label_sets(views.records, len(run.labels))
    temperatures = [fit_class_temperature(probs[:, k], truth[:, k]) for k in range(len(run.labels))]
    bounded = [run.labels.names[k] for k, t in enumerate(temperatures) if t in (T_MIN, T_MAX)]
    result: dict[str, Any] = {
        "multi_label": True,
        "temperatures": {
            name: round(t, 5) for name, t in zip(run.labels.names, temperatures, strict=True)
        },
        "data": source,
        "videos": videos,
        "before": {"bce": mean_bce(probs, truth)},
        "after": {"bce": mean_bce(apply_class_temperatures(probs, temperatures), truth)},
        "bounded": bool(bounded),
        "note": f"temperature at a bound of [{T_MIN:g}, {T_MAX:g}] for {', '.join(bounded)}"
        if bounded
        else "",
    }
    fit_thresholds(run, views, source)
    atomic_write_text(run.paths.root / CALIBRATION_FILE, json.dumps(result, indent=1) + "\n")
    return result


def run_class_temperatures(run_root: Path, names: list[str] | tuple[str, ...]) -> list[float]:
    """The multi-label run's per-class temperatures (1.0 each when it was not calibrated)."""
    path = Path(run_root) / CALIBRATION_FILE
    if not path.is_file():
        return [1.0] * len(names)
    table = json.loads(path.read_text())["temperatures"]
    return [float(table.get(name, 1.0)) for name in names]
