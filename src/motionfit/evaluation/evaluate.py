"""Evaluate a trained run on a labeled dataset and write its result files.

``evaluate_run`` is what ``motionfit evaluate``, the final test of ``motionfit train`` and
``motionfit report --test`` call. It writes into its output folder:

- ``metrics.json``: ``top1``, ``top5``, ``mean_class_accuracy``, ``num_videos`` (fractions),
  clip-level accuracy, macro precision/recall/F1, per-class scores, the confusion counts, the
  most frequent confusions, what was evaluated and which videos could not be read; with
  ``diagnose``, ``diagnostics`` (``frozen``, ``shuffled``, ``reversed``, each ``{"top1",
  "agreement"}``), ``diagnostics_reading`` (one line), ``diagnostics_meaningful`` (false when
  the model is at chance or answers one class for most videos) and ``diagnostics_caveat`` (why
  not, or null);
- ``confusion.png``: the row-normalized confusion matrix, sorted by class accuracy;
- ``per_class.csv``: class, support, predicted, precision, recall, f1;
- ``mistakes.csv``: video, truth, prediction, confidence, truth_probability (most confident
  mistakes first).

A multi-label run (``data.multi_label``) writes mAP, per-class AP and F1 instead
(:mod:`motionfit.evaluation.evaluate_multi`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motionfit.data.records import LabelMap, VideoRecord
from motionfit.errors import DataError
from motionfit.evaluation.diagnose import caveat, diagnostic_scores, reading
from motionfit.evaluation.inference import (
    ViewPredictions,
    load_run_model,
    num_views,
    predict_views,
)
from motionfit.run import LoadedRun, RunPaths

if TYPE_CHECKING:
    from motionfit.evaluation.metrics import EvalMetrics

EVAL_DIR = "eval"
METRICS_JSON = "metrics.json"
CONFUSION_PNG = "confusion.png"
PER_CLASS_CSV = "per_class.csv"
MISTAKES_CSV = "mistakes.csv"


VAL_EVAL_DIR = "eval_val"  # the validation videos scored the evaluate way


def eval_dir(paths: RunPaths) -> Path:
    """Where a run's evaluation goes by default (and where ``motionfit report`` looks)."""
    return paths.root / EVAL_DIR


def val_eval_dir(paths: RunPaths) -> Path:
    """Where the validation videos scored with the evaluate protocol go (``eval_val/``)."""
    return paths.root / VAL_EVAL_DIR


def align_labels(
    records: Sequence[VideoRecord], data_labels: LabelMap, run_labels: LabelMap, source: str = ""
) -> list[VideoRecord]:
    """Records whose labels are ids of ``data_labels``, relabeled with the ids of the same class
    names in ``run_labels`` (a test set may list its classes in another order or miss some).

    Data whose classes have no names (integer labels and no ``labels.txt``) keep their ids as
    ids of the run. A class the run does not know, or an unlabeled video, is a DataError.
    """
    where = f"{source}: " if source else ""
    names = data_labels.names
    if names and all(name.isdigit() for name in names) and not any(n in run_labels for n in names):
        mapping = {k: int(name) for k, name in enumerate(names)}
        unknown = [n for n in mapping.values() if n >= len(run_labels)]
        if unknown:
            raise DataError(
                f"{where}class id {unknown[0]} is out of range for the run's "
                f"{len(run_labels)} classes"
            )
    else:
        unknown_names = [n for n in names if n not in run_labels]
        if unknown_names:
            raise DataError(
                f"{where}class {unknown_names[0]!r} is not a class of the run "
                f"({_preview(run_labels.names)}); classes are matched by name"
            )
        mapping = {k: run_labels.id_of(name) for k, name in enumerate(names)}
    out = []
    for record in records:
        if record.label < 0:
            raise DataError(f"{where}{record.path} has no label; evaluation needs labeled videos")
        ids = sorted(mapping[label] for label in record.labels)
        out.append(
            VideoRecord(record.path, ids[0], record.start, record.end, record.group, tuple(ids[1:]))
        )
    return out


def evaluate_run(
    run: LoadedRun,
    records: Sequence[VideoRecord],
    *,
    clips: int | None = None,
    crops: int | None = None,
    out_dir: str | Path | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    data_name: str = "",
    diagnose: bool | None = None,
    devices: int = 1,
) -> dict[str, Any]:
    """Multi-view test of ``run`` on ``records`` (labels = ids of ``run.labels``; see
    :func:`align_labels`): softmax averaged over ``clips`` uniform clips x ``crops`` crops per
    video. ``None`` arguments take the run's ``eval.clips``, ``eval.crops``,
    ``eval.batch_size`` and ``data.num_workers``; ``out_dir`` defaults to :func:`eval_dir`.
    ``diagnose`` (default ``eval.diagnose``) adds the motion-reliance diagnostics
    (:mod:`motionfit.evaluation.diagnose`) under ``"diagnostics"``. ``devices`` > 1 scores the
    videos on that many devices (GPUs, else CPU processes; each loads the run's weights) with
    the same result.

    Writes the files listed in the module docstring and returns the ``metrics.json`` dict.
    Unreadable videos are left out and listed under ``unreadable``; a DataError if none can
    be read.
    """
    # imported here: the processes of --devices import this package and need neither
    # (torchmetrics imports transformers: seconds per process)
    from motionfit.evaluation.evaluate_multi import multi_label_result
    from motionfit.evaluation.metrics import compute_metrics
    from motionfit.evaluation.plots import confusion_figure, save_png

    bad = next((r for r in records if not 0 <= r.label < len(run.labels)), None)
    if bad is not None:
        raise DataError(
            f"{bad.path}: label {bad.label} is not a class id of the run (0..{len(run.labels) - 1})"
            "; relabel test data with align_labels"
        )
    cfg = run.config
    several = next((r for r in records if r.more_labels), None)
    if several is not None and not cfg.data.multi_label:
        raise DataError(
            f"{several.path}: has several labels, but the run is single-label "
            "(config key 'data.multi_label')"
        )
    clips = cfg.eval.clips if clips is None else clips
    crops = cfg.eval.crops if crops is None else crops
    diagnose = cfg.eval.diagnose if diagnose is None else diagnose
    predictions = predict_views(
        run.model,
        cfg,
        records,
        clips=clips,
        crops=crops,
        batch_size=cfg.eval.batch_size if batch_size is None else batch_size,
        num_workers=cfg.data.num_workers if num_workers is None else num_workers,
        diagnose=diagnose,
        devices=devices,
        model_source=partial(load_run_model, run.weights),
    )
    if not predictions.records:
        first = predictions.failed[0][1] if predictions.failed else "no videos"
        raise DataError(f"none of the {len(records)} videos could be read (first: {first})")
    out = Path(out_dir) if out_dir is not None else eval_dir(run.paths)
    out.mkdir(parents=True, exist_ok=True)
    info = {
        "run": str(run.paths.root),
        "weights": str(run.weights),
        "model": cfg.model.name,
        "data": data_name,
        "clips": clips,
        "crops": crops,
        "eval_mode": cfg.eval.mode,
        "unreadable": [{"video": str(r.path), "reason": why} for r, why in predictions.failed],
    }
    if cfg.data.multi_label:
        return multi_label_result(run, predictions, out, info)
    metrics = compute_metrics(
        predictions.video_probs,
        predictions.view_probs,
        predictions.targets,
        run.labels.names,
    )
    result = metrics.to_dict() | info
    if predictions.diagnostic_probs:
        diagnostics = diagnostic_scores(
            predictions.video_probs, predictions.diagnostic_probs, predictions.targets
        )
        predicted, targets = predictions.video_probs.argmax(dim=1), predictions.targets
        result["diagnostics"] = diagnostics
        result["diagnostics_reading"] = reading(diagnostics, len(run.labels), predicted, targets)
        why = caveat(predicted, targets, len(run.labels))
        result["diagnostics_meaningful"] = why is None
        result["diagnostics_caveat"] = why
    (out / METRICS_JSON).write_text(json.dumps(result, indent=2) + "\n")
    title = (
        f"{cfg.model.name} on {data_name or 'test data'}: top-1 {metrics.top1:.1%}, "
        f"{num_views(cfg, clips, crops)} views/video"
    )
    save_png(confusion_figure(metrics.confusion, metrics.labels, title), out / CONFUSION_PNG)
    write_per_class(metrics, out / PER_CLASS_CSV)
    write_mistakes(predictions, run.labels, out / MISTAKES_CSV)
    return result


def write_per_class(metrics: EvalMetrics, path: Path) -> Path:
    """``per_class.csv``: one row per class in label order."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "support", "predicted", "precision", "recall", "f1"])
        for c in metrics.per_class:
            writer.writerow(
                [c.name, c.support, c.predicted, f"{c.precision:.4f}", f"{c.recall:.4f}",
                 f"{c.f1:.4f}"]
            )  # fmt: skip
    return path


def write_mistakes(predictions: ViewPredictions, labels: LabelMap, path: Path) -> Path:
    """``mistakes.csv``: each misclassified video, most confident mistake first (``start`` and
    ``end`` are the segment in seconds for records that have one)."""
    confidence, predicted = predictions.video_probs.max(dim=1)
    targets = predictions.targets.tolist()
    wrong = [i for i, target in enumerate(targets) if int(predicted[i]) != target]
    wrong.sort(key=lambda i: -float(confidence[i]))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["video", "truth", "prediction", "confidence", "truth_probability", "start", "end"]
        )
        for i in wrong:
            record = predictions.records[i]
            writer.writerow(
                [
                    str(record.path),
                    labels.names[targets[i]],
                    labels.names[int(predicted[i])],
                    f"{float(confidence[i]):.4f}",
                    f"{float(predictions.video_probs[i, targets[i]]):.4f}",
                    "" if record.start is None else f"{record.start:g}",
                    "" if record.end is None else f"{record.end:g}",
                ]
            )
    return path


def _preview(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} classes)" if len(names) > limit else "")
