"""Inference with a trained run: top-k classes per video, or a timeline of sliding windows.

Predictions go through the run's own eval pipeline (``evaluation.inference``): the same
sampling, resize, crops and normalization as ``motionfit evaluate``, softmax averaged over the
views. Unreadable videos are reported in ``PredictResult.failed`` and the others go on.

A multi-label run answers every class whose probability reaches its threshold
(``RUN_DIR/thresholds.json``; the answer ``a;b``, empty when none does), with the probabilities
(per-class calibrated when ``calibrate`` was run); the top-k list is kept beside it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from motionfit.calibration import apply_temperature, run_temperature
from motionfit.calibration_multi import apply_class_temperatures, run_class_temperatures
from motionfit.data.decode import probe
from motionfit.data.frames import is_frame_folder
from motionfit.data.records import VideoRecord, read_records
from motionfit.data.storage import as_path, is_url
from motionfit.errors import ConfigError, DataError, VideoDecodeError
from motionfit.evaluation.evaluate_multi import run_thresholds
from motionfit.evaluation.inference import load_run_model, predict_views
from motionfit.run import LoadedRun

UNKNOWN = "unknown"  # the answer below --min-confidence


@dataclass(frozen=True)
class LabelScore:
    """One class and its probability."""

    label: str
    probability: float


@dataclass(frozen=True)
class VideoPrediction:
    """The top classes of a video, or of the window ``start``-``end`` (seconds) of it."""

    video: Path
    top: list[LabelScore]
    start: float | None = None
    end: float | None = None
    unknown: bool = False  # the top probability is below --min-confidence
    above: tuple[LabelScore, ...] | None = None  # multi-label: the classes at their threshold

    @property
    def label(self) -> str:
        """The answer: the top class, or ``unknown`` below ``--min-confidence``; multi-label:
        the classes above their thresholds joined by ``;``."""
        if self.above is not None:
            return ";".join(s.label for s in self.above)
        return UNKNOWN if self.unknown else self.top[0].label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out: dict[str, Any] = {"video": str(self.video)}
        if self.start is not None:
            out |= {"start": round(self.start, 3), "end": round(self.end or 0.0, 3)}
        out["label"] = self.label
        if self.above is not None:
            out["labels"] = [
                {"label": s.label, "probability": round(s.probability, 6)} for s in self.above
            ]
        out["top_k"] = [
            {"label": s.label, "probability": round(s.probability, 6)} for s in self.top
        ]
        return out


@dataclass
class PredictResult:
    """Predictions of the readable videos (or windows), and ``(video, reason)`` of the rest."""

    predictions: list[VideoPrediction] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``predictions`` and ``unreadable``."""
        return {
            "predictions": [p.to_dict() for p in self.predictions],
            "unreadable": [{"video": str(v), "reason": why} for v, why in self.failed],
        }


LIST_SUFFIXES = (".txt", ".lst", ".csv")  # a file of video paths, not a video


def find_videos(targets: str | Path | Sequence[str | Path]) -> list[Path]:
    """The videos of ``targets``, in order: each a video file, one frame folder (images
    directly inside), a folder (every video file and frame folder under it, recursively) or a
    list file (``.txt``/``.lst``: one path per line, ``#`` comments; ``.csv``: a ``path`` or
    ``video`` column, else the first; relative paths from the list's folder). Any of them may
    be an object-storage URL (:mod:`motionfit.data.storage`). A path a list
    names that does not exist is kept: predicting reports it unreadable and goes on.

    DataError for a missing target or one without videos."""
    if isinstance(targets, str | Path):
        targets = [targets]
    found: list[Path] = []
    for target in map(as_path, targets):
        if not target.exists():
            raise DataError(f"no such video, folder or list: {target}")
        if target.is_file() and target.suffix.lower() in LIST_SUFFIXES:
            found.extend(_listed_videos(target))
        elif target.is_file() or is_frame_folder(target):
            found.append(target)
        else:
            records, _ = read_records(target, format="unlabeled")
            found.extend(record.path for record in records)
    return found


def _listed_videos(path: Path) -> list[Path]:
    """The video paths a list file names (see :func:`find_videos`)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(text.splitlines()))
        header = [cell.strip().lower() for cell in rows[0]] if rows else []
        column = next((header.index(name) for name in ("path", "video") if name in header), None)
        body = rows[1:] if column is not None else rows
        names = [row[column or 0].strip() for row in body if row and row[column or 0].strip()]
    else:
        lines = (line.strip() for line in text.splitlines())
        names = [line for line in lines if line and not line.startswith("#")]
    if not names:
        raise DataError(f"{path}: the list names no videos")
    return [as_path(name) if is_url(name) else path.parent / name for name in names]


def predict_videos(
    run: LoadedRun,
    videos: Sequence[str | Path],
    *,
    top_k: int = 5,
    clips: int | None = None,
    crops: int | None = None,
    batch_size: int | None = None,
    num_workers: int = 0,
    min_confidence: float = 0.0,
    devices: int = 1,
) -> PredictResult:
    """The ``top_k`` classes (at most the number of classes) of each whole video, from
    ``clips`` x ``crops`` views (default: the run's ``eval.clips`` / ``eval.crops``).
    Probabilities are calibrated when the run has ``calibration.json``; a video whose top
    probability is below ``min_confidence`` is answered ``unknown``. ``devices`` > 1 spreads
    the videos over that many devices (GPUs, else CPU processes), results in input order."""
    records = [VideoRecord(as_path(v), -1) for v in videos]
    return _predict(
        run, records, top_k, clips, crops, batch_size, num_workers, min_confidence, devices
    )


def predict_timeline(
    run: LoadedRun,
    videos: Sequence[str | Path],
    *,
    window: float,
    hop: float,
    top_k: int = 5,
    clips: int | None = None,
    crops: int | None = None,
    batch_size: int | None = None,
    num_workers: int = 0,
    min_confidence: float = 0.0,
    devices: int = 1,
) -> PredictResult:
    """The top classes of each ``window``-second window of each video, one every ``hop``
    seconds (see :func:`timeline_windows`); clips are sampled inside each window as the eval
    pipeline samples a whole video (the windows spread over ``devices`` as videos are)."""
    records: list[VideoRecord] = []
    failed: list[tuple[Path, str]] = []
    for video in videos:
        try:
            duration = probe(video, run.config.sampling.frames_fps).duration
        except VideoDecodeError as exc:
            failed.append((as_path(video), " ".join(str(exc).split())))
            continue
        for start, end in timeline_windows(duration, window, hop):
            records.append(VideoRecord(as_path(video), -1, start, end))
    result = _predict(
        run, records, top_k, clips, crops, batch_size, num_workers, min_confidence, devices
    )
    result.failed = failed + result.failed
    return result


def timeline_windows(duration: float, window: float, hop: float) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of windows of length ``window`` every ``hop`` seconds; a last
    window is aligned to the end when the regular ones stop short of it, and a video shorter
    than ``window`` is one window."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be > 0, got {window}, {hop}")
    if duration <= window:
        return [(0.0, duration)]
    count = int((duration - window) // hop + 1e-9) + 1
    windows = [(k * hop, k * hop + window) for k in range(count)]
    if windows[-1][1] < duration - 1e-6:
        windows.append((duration - window, duration))
    return windows


OUTPUT_SUFFIXES = (".csv", ".json", ".jsonl")


def write_predictions(result: PredictResult, path: str | Path) -> Path:
    """Write predictions as ``.json`` (:meth:`PredictResult.to_dict`), ``.jsonl`` (one object
    per video or window, then one per unreadable video with its ``error``) or ``.csv`` (one row
    per video or window: ``video,start,end,label,probability,top_k``, ``top_k`` the JSON list
    of the top classes; unreadable videos have an empty label and their ``error``). A
    multi-label run's ``label`` is the ``;``-joined classes above their thresholds (JSON: also
    ``labels``, with their probabilities)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise DataError(f"--out must end in {', '.join(OUTPUT_SUFFIXES)}, got {path.name}")
    rows = [p.to_dict() for p in result.predictions]
    rows += [{"video": str(video), "error": why} for video, why in result.failed]
    if suffix == ".json":
        path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            columns = ["video", "start", "end", "label", "probability", "top_k", "error"]
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            for row in rows:
                top = row.get("top_k", [])
                writer.writerow(
                    {
                        "video": row["video"],
                        "start": _seconds(row.get("start")),
                        "end": _seconds(row.get("end")),
                        "label": row.get("label", ""),
                        "probability": top[0]["probability"] if top else "",
                        "top_k": json.dumps(top) if top else "",
                        "error": row.get("error", ""),
                    }
                )
    return path


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _predict(
    run: LoadedRun,
    records: list[VideoRecord],
    top_k: int,
    clips: int | None,
    crops: int | None,
    batch_size: int | None,
    num_workers: int,
    min_confidence: float = 0.0,
    devices: int = 1,
) -> PredictResult:
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if not records:
        return PredictResult()
    cfg = run.config
    if cfg.data.multi_label and min_confidence > 0:
        raise ConfigError(
            "--min-confidence is for single-label runs; a multi-label run (config key "
            "'data.multi_label') answers the classes above their thresholds (thresholds.json)"
        )
    views = predict_views(
        run.model,
        cfg,
        records,
        clips=cfg.eval.clips if clips is None else clips,
        crops=cfg.eval.crops if crops is None else crops,
        batch_size=cfg.eval.batch_size if batch_size is None else batch_size,
        num_workers=num_workers,
        devices=devices,
        model_source=partial(load_run_model, run.weights),
    )
    k = min(top_k, len(run.labels))
    if cfg.data.multi_label:
        return _multi_label_result(run, views.records, views.video_probs, k, views.failed)
    calibrated = apply_temperature(views.video_probs, run_temperature(run.paths.root))
    probabilities, classes = calibrated.topk(k, dim=1)
    predictions = [
        VideoPrediction(
            video=record.path,
            top=[
                LabelScore(run.labels.names[int(c)], float(p))
                for p, c in zip(probabilities[i], classes[i], strict=True)
            ],
            start=record.start,
            end=record.end,
            unknown=float(probabilities[i, 0]) < min_confidence,
        )
        for i, record in enumerate(views.records)
    ]
    return PredictResult(predictions, [(r.path, why) for r, why in views.failed])


def _multi_label_result(
    run: LoadedRun,
    records: list[VideoRecord],
    probs: torch.Tensor,
    k: int,
    failed: list[tuple[VideoRecord, str]],
) -> PredictResult:
    """Multi-label answers: the classes whose (uncalibrated) probability reaches its threshold,
    most probable first, with their (calibrated) probabilities, and the top ``k``."""
    names = run.labels.names
    decided = probs >= torch.tensor(run_thresholds(run), dtype=probs.dtype)
    calibrated = apply_class_temperatures(probs, run_class_temperatures(run.paths.root, names))
    predictions = []
    for i, record in enumerate(records):
        order = calibrated[i].argsort(descending=True).tolist()
        scores = [LabelScore(names[c], float(calibrated[i, c])) for c in order]
        above = tuple(s for s, c in zip(scores, order, strict=True) if decided[i, c])
        predictions.append(
            VideoPrediction(record.path, scores[:k], record.start, record.end, above=above)
        )
    return PredictResult(predictions, [(r.path, why) for r, why in failed])
