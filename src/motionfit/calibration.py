"""Confidence calibration: one temperature fitted on validation videos, stored in the run.

A trained classifier's softmax is usually over-confident: "0.9" is right less than 90% of the
time. Temperature scaling (Guo et al., ICML 2017) divides the log-probabilities by one ``T``
fitted to minimize the negative log-likelihood on held-out videos; it changes no ranking, only
how much a probability means. Here it applies to the view-averaged video probabilities ``p``
that ``predict`` reports: ``softmax(log p / T)``. ``motionfit calibrate RUN`` writes
``RUN/calibration.json``; ``predict`` uses it when present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_calibration_error

from motionfit.atomic import atomic_write_text
from motionfit.data.records import VideoRecord
from motionfit.errors import DataError
from motionfit.evaluation.inference import predict_views
from motionfit.run import LoadedRun

CALIBRATION_FILE = "calibration.json"
ECE_BINS = 15


def fit_temperature(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """The ``T > 0`` minimizing the NLL of ``softmax(log probs / T)`` for ``labels`` (LBFGS
    on ``log T``)."""
    log_probs = probs.double().clamp_min(1e-12).log()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(log_probs / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def apply_temperature(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(log probs / temperature)`` (``probs`` unchanged at temperature 1)."""
    if temperature == 1.0:
        return probs
    return (probs.clamp_min(1e-12).log() / temperature).softmax(dim=-1)


class Calibration(TypedDict):
    """What ``calibration.json`` holds: the fitted temperature, the data it was fitted on and
    the scores (:func:`calibration_scores`) before and after it."""

    temperature: float
    data: str
    videos: int
    before: dict[str, float]
    after: dict[str, float]


def calibration_scores(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """NLL and expected calibration error (ECE, 15 bins) of video probabilities."""
    nll = F.nll_loss(probs.clamp_min(1e-12).log(), labels)
    ece = multiclass_calibration_error(probs, labels, probs.shape[1], n_bins=ECE_BINS)
    return {"nll": round(float(nll), 5), "ece": round(float(ece), 5)}


def calibrate_run(
    run: LoadedRun, records: list[VideoRecord], source: str, num_workers: int = 0
) -> Calibration:
    """Score labeled ``records`` with the run's eval views, fit the temperature, write
    ``calibration.json`` into the run directory and return what it holds."""
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
    if len(views.records) < 2:
        raise DataError(f"{source}: calibration needs at least 2 readable labeled videos")
    labels = torch.tensor([r.label for r in views.records])
    temperature = fit_temperature(views.video_probs, labels)
    result = Calibration(
        temperature=round(temperature, 5),
        data=source,
        videos=len(views.records),
        before=calibration_scores(views.video_probs, labels),
        after=calibration_scores(apply_temperature(views.video_probs, temperature), labels),
    )
    atomic_write_text(run.paths.root / CALIBRATION_FILE, json.dumps(result, indent=1) + "\n")
    return result


def run_temperature(run_root: Path) -> float:
    """The run's fitted temperature (1.0, i.e. the raw softmax, when it was not calibrated)."""
    path = Path(run_root) / CALIBRATION_FILE
    if not path.is_file():
        return 1.0
    return float(json.loads(path.read_text())["temperature"])


def validation_source(run: LoadedRun) -> str:
    """The run's own validation data: its saved split (``split/val.txt``) or ``data.val``."""
    split = run.paths.split_dir / "val.txt"
    if split.is_file():
        return str(split)
    if run.config.data.val:
        return run.config.data.val
    raise DataError(f"{run.paths.root}: no validation split saved; pass --data VALIDATION_DATA")
