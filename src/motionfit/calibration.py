"""Confidence calibration: one temperature fitted on validation videos, stored in the run.

A trained classifier's softmax is usually over-confident: "0.9" is right less than 90% of the
time. Temperature scaling (Guo et al., ICML 2017) divides the log-probabilities by one ``T``
fitted to minimize the negative log-likelihood on held-out videos; it changes no ranking, only
how much a probability means. Here it applies to the view-averaged video probabilities ``p``
that ``predict`` reports: ``softmax(log p / T)``. ``motionfit calibrate RUN`` writes
``RUN/calibration.json``; ``predict`` uses it when present.

The NLL only has a finite minimum when some predictions are wrong: on an all-correct split it
keeps falling as ``T -> 0`` (every probability becomes 1.0 and ``predict --min-confidence``
filters nothing). So calibration refuses fewer than ``MIN_VIDEOS`` videos or ``MIN_ERRORS``
wrong predictions, and ``T`` is kept in ``[T_MIN, T_MAX]`` (``bounded`` in calibration.json
when the best ``T`` lies beyond a bound). A multi-label run is calibrated per class
(:mod:`motionfit.calibration_multi`).
"""

from __future__ import annotations

import json
import math
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
# Fewer videos than this leave even one parameter (and the 15-bin ECE) at the mercy of a few
# videos; with fewer wrong predictions the fitted T is set by one or two of them (none: T -> 0).
MIN_VIDEOS = 20
MIN_ERRORS = 3
# Fitted temperatures are ~0.7-3 in practice (Guo et al.: 1.1-3; label smoothing and MixUp give
# T < 1). Beyond 0.05 a 0.6 probability becomes 0.9997, beyond 20 the softmax is nearly
# uniform: there the NLL describes the data (no errors, a model at chance), not a calibration.
T_MIN, T_MAX = 0.05, 20.0
_BISECTIONS = 60


def fit_temperature(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """The ``T`` in ``[T_MIN, T_MAX]`` minimizing the NLL of ``softmax(log probs / T)`` for
    ``labels`` (Guo et al. 2017); a bound when the minimum lies beyond it.

    The NLL is convex in ``1 / T``, so its slope there rises with ``1 / T``: bisecting on the
    slope's sign (in ``log T``) finds the minimum, or tells which bound it lies beyond."""
    log_probs = probs.double().clamp_min(1e-12).log()
    true = log_probs.gather(1, labels.view(-1, 1)).squeeze(1)

    def slope(log_t: float) -> float:
        """d NLL / d(1 / T) at ``T = exp(log_t)``: positive when a larger ``T`` is better."""
        weights = (log_probs / math.exp(log_t)).softmax(dim=1)
        return float(((weights * log_probs).sum(dim=1) - true).mean())

    low, high = math.log(T_MIN), math.log(T_MAX)
    if slope(low) <= 0:
        return T_MIN
    if slope(high) >= 0:
        return T_MAX
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        low, high = (middle, high) if slope(middle) > 0 else (low, middle)
    return math.exp((low + high) / 2)


def apply_temperature(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(log probs / temperature)`` (``probs`` unchanged at temperature 1)."""
    if temperature == 1.0:
        return probs
    return (probs.clamp_min(1e-12).log() / temperature).softmax(dim=-1)


class Calibration(TypedDict):
    """What ``calibration.json`` holds: the fitted temperature, the data it was fitted on (and
    its wrong predictions), the scores (:func:`calibration_scores`) before and after it, and
    whether the temperature sits on a bound of ``[T_MIN, T_MAX]`` (``note`` says which)."""

    temperature: float
    data: str
    videos: int
    errors: int
    before: dict[str, float]
    after: dict[str, float]
    bounded: bool
    note: str


def calibration_scores(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """NLL and expected calibration error (ECE, 15 bins) of video probabilities."""
    nll = F.nll_loss(probs.clamp_min(1e-12).log(), labels)
    ece = multiclass_calibration_error(probs, labels, probs.shape[1], n_bins=ECE_BINS)
    return {"nll": round(float(nll), 5), "ece": round(float(ece), 5)}


def calibrate_run(
    run: LoadedRun, records: list[VideoRecord], source: str, num_workers: int = 0
) -> Calibration:
    """Score labeled ``records`` with the run's eval views, fit the temperature, write
    ``calibration.json`` into the run directory and return what it holds. A DataError (nothing
    written) below ``MIN_VIDEOS`` readable videos or ``MIN_ERRORS`` wrong predictions; a
    multi-label run is a DataError (see :mod:`motionfit.calibration_multi`)."""
    cfg = run.config
    if cfg.data.multi_label:
        raise DataError(
            f"{run.paths.root}: a multi-label run (config key 'data.multi_label') is calibrated "
            "per class: motionfit.calibration_multi.calibrate_multi_label"
        )
    views = predict_views(
        run.model,
        cfg,
        records,
        clips=cfg.eval.clips,
        crops=cfg.eval.crops,
        batch_size=cfg.eval.batch_size,
        num_workers=num_workers,
    )
    labels = torch.tensor([r.label for r in views.records])
    videos, errors = len(labels), int((views.video_probs.argmax(dim=1) != labels).sum())
    if videos < MIN_VIDEOS or errors < MIN_ERRORS:
        few = errors < MIN_ERRORS
        why = " (with fewer the best T tends to 0: every probability 1.0)" if few else ""
        raise DataError(
            f"{source}: cannot fit a temperature on {videos} videos with {errors} wrong "
            f"predictions: calibration needs at least {MIN_VIDEOS} labeled validation videos "
            f"and {MIN_ERRORS} wrong predictions among them{why}; pass --data with more videos"
        )
    temperature = fit_temperature(views.video_probs, labels)
    note = {
        T_MIN: f"the NLL is lowest below T={T_MIN:g}, kept at that bound: the few errors cost "
        "the model almost nothing; fit on more validation videos",
        T_MAX: f"the NLL is lowest above T={T_MAX:g}, kept at that bound: the model is near "
        "chance on these videos, its probabilities have no confidence to calibrate",
    }.get(temperature, "")
    result = Calibration(
        temperature=round(temperature, 5),
        data=source,
        videos=videos,
        errors=errors,
        before=calibration_scores(views.video_probs, labels),
        after=calibration_scores(apply_temperature(views.video_probs, temperature), labels),
        bounded=bool(note),
        note=note,
    )
    atomic_write_text(run.paths.root / CALIBRATION_FILE, json.dumps(result, indent=1) + "\n")
    return result


def run_temperature(run_root: Path) -> float:
    """The run's fitted temperature (1.0, i.e. the raw softmax, when it was not calibrated;
    a multi-label run's per-class temperatures: ``calibration_multi.run_class_temperatures``)."""
    path = Path(run_root) / CALIBRATION_FILE
    if not path.is_file():
        return 1.0
    stored = json.loads(path.read_text())
    if "temperature" not in stored:
        raise DataError(f"{path}: per-class temperatures of a multi-label run, not one")
    return float(stored["temperature"])


def validation_source(run: LoadedRun) -> str:
    """The run's own validation data: its saved split (``split/val.txt``) or ``data.val``."""
    split = run.paths.split_dir / "val.txt"
    if split.is_file():
        return str(split)
    if run.config.data.val:
        return run.config.data.val
    raise DataError(f"{run.paths.root}: no validation split saved; pass --data VALIDATION_DATA")
