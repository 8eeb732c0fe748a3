"""``evaluate`` for a multi-label run (``data.multi_label``): mAP, per-class AP and F1.

:func:`multi_label_result` writes into the evaluation folder:

- ``metrics.json``: ``map_macro``, ``map_micro``, ``f1_macro`` (at the run's per-class
  thresholds, ``thresholds.json``), ``exact_match`` (the share of videos whose predicted label
  set is exactly theirs), ``num_videos``, ``per_class`` (support, predicted, AP, threshold,
  precision, recall, F1), ``not_applicable`` (the single-label scores that do not apply:
  top-1, top-5, the confusion matrix), what was evaluated and the unreadable videos; with
  diagnostics, per altered view its ``map`` and its ``agreement`` (the share of videos whose
  predicted label set is unchanged);
- ``per_class.csv``: class, support, predicted, ap, threshold, precision, recall, f1.

:func:`fit_thresholds` chooses and saves the thresholds from a run's validation videos.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from motionfit.data.records import VideoRecord
from motionfit.evaluation.inference import ViewPredictions
from motionfit.evaluation.multi_label import (
    THRESHOLDS_FILE,
    ClassScores,
    choose_thresholds,
    class_scores,
    load_thresholds,
    map_macro,
    map_micro,
    multi_hot,
    save_thresholds,
)
from motionfit.run import LoadedRun

NOT_APPLICABLE = ("top1", "top5", "confusion")  # single-label scores a multi-label run lacks


def label_sets(records: Sequence[VideoRecord], num_classes: int) -> torch.Tensor:
    """The multi-hot truth ``[N, K]`` of ``records``."""
    return multi_hot([r.labels for r in records], num_classes)


def run_thresholds(run: LoadedRun) -> list[float]:
    """The run's per-class thresholds (``RUN_DIR/thresholds.json``)."""
    return load_thresholds(run.paths.root / THRESHOLDS_FILE, run.labels.names)


def fit_thresholds(run: LoadedRun, predictions: ViewPredictions, source: str) -> list[float]:
    """Choose the F1-maximizing threshold of every class on ``predictions`` (the run's
    validation videos, named by ``source``) and save them in ``RUN_DIR/thresholds.json``."""
    truth = label_sets(predictions.records, len(run.labels))
    thresholds = choose_thresholds(predictions.video_probs, truth)
    save_thresholds(run.paths.root / THRESHOLDS_FILE, run.labels.names, thresholds, source)
    return thresholds


def multi_label_result(
    run: LoadedRun, predictions: ViewPredictions, out: Path, info: dict[str, Any]
) -> dict[str, Any]:
    """Score ``predictions`` against their records' label sets, write ``metrics.json`` and
    ``per_class.csv`` to ``out`` and return the metrics (``info``: what was evaluated)."""
    probs = predictions.video_probs
    truth = label_sets(predictions.records, len(run.labels))
    thresholds = run_thresholds(run)
    rows = class_scores(probs, truth, run.labels.names, thresholds)
    decided = probs >= torch.tensor(thresholds, dtype=probs.dtype)
    result: dict[str, Any] = {
        "multi_label": True,
        "map_macro": map_macro(probs, truth),
        "map_micro": map_micro(probs, truth),
        "f1_macro": sum(r.f1 for r in rows) / len(rows),
        "exact_match": float((decided == truth.bool()).all(dim=1).float().mean()),
        "num_videos": len(predictions.records),
        "per_class": [asdict(r) for r in rows],
        "not_applicable": list(NOT_APPLICABLE),
        **info,
    }
    if predictions.diagnostic_probs:
        result["diagnostics"] = label_set_diagnostics(
            decided, predictions.diagnostic_probs, truth, thresholds
        )
        result["diagnostics_reading"] = _reading(result["diagnostics"])
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    write_per_class(rows, out / "per_class.csv")
    return result


def label_set_diagnostics(
    decided: torch.Tensor,
    diagnostic_probs: dict[str, torch.Tensor],
    truth: torch.Tensor,
    thresholds: Sequence[float],
) -> dict[str, dict[str, float]]:
    """``{name: {"map", "agreement"}}`` per altered view: its mAP, and the share of videos
    whose predicted label set (at ``thresholds``) is the one of their normal views."""
    cut = torch.tensor(thresholds)
    out = {}
    for name, probs in diagnostic_probs.items():
        same = ((probs >= cut.to(probs.dtype)) == decided).all(dim=1)
        out[name] = {"map": map_macro(probs, truth), "agreement": float(same.float().mean())}
    return out


def _reading(diagnostics: dict[str, dict[str, float]]) -> str:
    """One line: how many label sets the altered views keep (frozen first)."""
    kept = ", ".join(f"{name} {d['agreement']:.0%}" for name, d in diagnostics.items())
    return (
        f"altered views keep the predicted label set of {kept} of videos (a model that reads "
        "motion keeps few on frozen clips)"
    )


def write_per_class(rows: Sequence[ClassScores], path: Path) -> Path:
    """``per_class.csv`` of a multi-label evaluation (``ap`` empty for a class without
    positive videos)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["class", "support", "predicted", "ap", "threshold", "precision", "recall", "f1"]
        )
        for r in rows:
            ap = "" if r.ap is None else f"{r.ap:.4f}"
            writer.writerow(
                [r.name, r.support, r.predicted, ap, f"{r.threshold:.4f}", f"{r.precision:.4f}",
                 f"{r.recall:.4f}", f"{r.f1:.4f}"]
            )  # fmt: skip
    return path
