"""``train``: one function from a config to a finished run directory.

Configures the run template (:mod:`motionfit.train.runner`) with labeled data, a classifier
and the supervised task; then scores the validation videos the way ``evaluate`` does (when
validation was cheaper) and the test set. A multi-label run (:mod:`motionfit.train.multi_label`)
first chooses its per-class thresholds on the validation videos (``RUN_DIR/thresholds.json``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import lightning as L
from rich.console import Console

from motionfit.config import Config, load_config
from motionfit.errors import RunError
from motionfit.models.adapt import Adapted, adapt_for_training
from motionfit.models.build import build_model_from_config
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.lora import merge_lora_file
from motionfit.models.registry import get_spec
from motionfit.models.weights import LoadReport, report_load
from motionfit.output_dir import releases_output_locks
from motionfit.run import RunPaths
from motionfit.train.callbacks import CLASSIFICATION_METRICS
from motionfit.train.datamodule import VideoDataModule
from motionfit.train.loggers import log_final_metrics
from motionfit.train.multi_label import MULTI_LABEL_METRICS, resolve_multi_label
from motionfit.train.runner import RunData, RunTemplate, best_score, run_template
from motionfit.train.speed import apply_speed_switches
from motionfit.train.task import VideoClassificationTask


@dataclass
class TrainResult:
    """What a finished ``train`` call produced."""

    run: RunPaths
    monitor: str
    best_score: float | None
    epochs: int
    steps: int
    test_metrics: dict | None = None

    @classmethod
    def of(
        cls, trainer: L.Trainer, run: RunPaths, monitor: str, test_metrics: dict | None = None
    ) -> TrainResult:
        """The result of ``trainer``'s finished fit into ``run``."""
        return cls(
            run=run,
            monitor=monitor,
            best_score=best_score(trainer),
            epochs=trainer.current_epoch,
            steps=trainer.global_step,
            test_metrics=test_metrics,
        )


@releases_output_locks  # the run folder's lock ends with the call
def train(
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    progress: bool = True,
    callbacks: list[L.Callback] | None = None,
    force: bool = False,
) -> TrainResult:
    """Train (or, with ``resume``, continue) the run in ``out``; see :mod:`motionfit.run` for
    what the directory holds.

    A new run refuses a directory that holds a started run, files motionfit did not write
    (unless ``force``) or the training data; a run that never started is started again.
    Data, settings and the model are checked before anything is written. ``resume``
    continues from ``checkpoints/last.ckpt`` with optimizer, schedule, data position and
    random state. ``init_from`` starts the backbone from another run's weights (e.g. a
    pretraining run). ``callbacks`` are added to the Trainer's (e.g. a sweep's pruning
    callback).
    """
    config = resolve_model_defaults(config)  # the model's normalization and debiasing
    config = resolve_multi_label(config)
    run_kind = MultiLabelRun if config.data.multi_label else SupervisedRun
    template = run_kind(init_from)
    done = run_template(
        template, config, out, resume=resume, force=force, progress=progress, callbacks=callbacks
    )
    if done.trainer.is_global_zero and done.best is None:
        raise RunError(
            f"{done.run.root}: training ended before any checkpoint was saved; no weights"
        )
    test_metrics = None
    if done.trainer.is_global_zero and done.best is not None:
        if done.config.data.multi_label:
            choose_thresholds_on_validation(done.run, done.config)
        if done.config.eval.validation_is_cheaper():
            score_validation_as_evaluate(done.run, done.config, echo=progress)
        if done.config.data.test:
            test_metrics = evaluate_test_set(done.run, done.config.data.test)
            log_final_metrics(done.trainer.loggers, test_metrics, "test", done.trainer.global_step)
    return TrainResult.of(done.trainer, done.run, done.config.train.monitor, test_metrics)


class SupervisedRun(RunTemplate):
    """``motionfit train``: labeled videos, a classifier (from ``model.pretrained`` or the
    ``init_from`` run's weights, head by class name), freeze/LoRA and the speed switches, the
    supervised task; LoRA merged into the exported weights."""

    command = "train"
    metrics = CLASSIFICATION_METRICS
    activity = "training"

    def __init__(self, init_from: str | Path | None = None) -> None:
        self.init_from = init_from
        self.adapted: Adapted | None = None
        self.load_report: LoadReport | None = None

    def data(self, config: Config, run: RunPaths, resume: bool) -> RunData:
        """The labeled videos' data module (strides resolved from the training videos)."""
        datamodule = VideoDataModule.for_run(config, run, resume)
        return RunData(datamodule.config, datamodule, len(datamodule.train_records))

    def task(self, config: Config, data: RunData) -> L.LightningModule:
        """The classifier, adapted (freeze, LoRA, speed switches), in the supervised task."""
        names = data.datamodule.prepare_records().names  # type: ignore[attr-defined]
        weights = _initial_weights(config, self.init_from)
        model = build_model_from_config(config, len(names), weights, class_names=names)
        self.load_report = model.load_report
        self.adapted = adapt_for_training(model, config.model)  # model.freeze, model.lora
        apply_speed_switches(model, get_spec(config.model.name), config.train)
        return VideoClassificationTask(config, model, len(names), class_names=names)

    def started(self, run: RunPaths, progress: bool) -> None:
        """Report how the weights loaded and what trains."""
        if self.load_report is not None:
            report_load(self.load_report, run.root, echo=progress)
        count = self.adapted.count if self.adapted is not None else None
        if progress and count is not None and count.trainable < count.total:
            Console(stderr=True).print(count.summary(), markup=False, highlight=False)

    def finished(self, run: RunPaths, config: Config) -> None:
        """Merge LoRA into the exported weights (they then load without PEFT)."""
        if self.adapted is not None and self.adapted.lora is not None:
            merge_lora_file(self.adapted.lora, run.model)


class MultiLabelRun(SupervisedRun):
    """``motionfit train`` on multi-label data: the same run, with mAP columns in
    ``metrics.csv`` (``val_map`` is the default monitor, ``val/map``)."""

    metrics = MULTI_LABEL_METRICS


def validation_source(run: RunPaths, config: Config) -> str:
    """The run's validation videos: ``data.val``, or the split it saved."""
    return config.data.val or str(run.split_dir / "val.txt")


def choose_thresholds_on_validation(run: RunPaths, config: Config) -> list[float]:
    """Score the run's validation videos with its best weights (``eval.clips`` x
    ``eval.crops``) and save the F1-maximizing threshold of every class in
    ``RUN_DIR/thresholds.json``; returns them."""
    from motionfit.data.records import read_records
    from motionfit.evaluation.evaluate import align_labels
    from motionfit.evaluation.evaluate_multi import fit_thresholds
    from motionfit.evaluation.inference import load_run_model, predict_views
    from motionfit.run import load_run

    loaded = load_run(run.root)
    source = validation_source(run, config)
    data = loaded.config.data
    records, data_labels = read_records(source, data.format, data.video_root)
    records = align_labels(records, data_labels, loaded.labels, source)
    cfg = loaded.config
    predictions = predict_views(
        loaded.model,
        cfg,
        records,
        clips=cfg.eval.clips,
        crops=cfg.eval.crops,
        batch_size=cfg.eval.batch_size,
        num_workers=cfg.data.num_workers,
        model_source=partial(load_run_model, loaded.weights),
    )
    return fit_thresholds(loaded, predictions, source)


def score_validation_as_evaluate(run: RunPaths, config: Config, echo: bool = True) -> dict:
    """Score the validation videos with the best weights the way ``evaluate`` does (all of
    ``eval.clips`` x ``eval.crops``) into ``RUN_DIR/eval_val/metrics.json``, and say how that
    differs from the cheaper validation that picked the checkpoint; returns the metrics."""
    from motionfit.evaluation.evaluate import val_eval_dir

    source = validation_source(run, config)
    metrics = evaluate_test_set(run, source, out_dir=val_eval_dir(run))
    if echo:
        clips, crops = config.eval.validation_views()
        score = (
            f"{metrics['map_macro']:.1%} mAP"
            if config.data.multi_label
            else f"{metrics['top1']:.1%} top-1"
        )
        Console(stderr=True).print(
            f"validation scored {clips} clip(s) x {crops} crop(s) per video; evaluate scores "
            f"{config.eval.clips} x {config.eval.crops}: the best checkpoint gets "
            f"{score} on the validation videos that way "
            f"({val_eval_dir(run) / 'metrics.json'})",
            markup=False,
            highlight=False,
        )
    return metrics


def evaluate_test_set(run: RunPaths, source: str, out_dir: Path | None = None) -> dict:
    """Multi-view evaluation of a finished run on a labeled test set (classes matched by
    name); writes metrics.json, confusion.png, per_class.csv and mistakes.csv to ``out_dir``
    (default ``RUN_DIR/eval``) and returns the metrics."""
    from motionfit.data.records import read_records
    from motionfit.evaluation.evaluate import align_labels, evaluate_run
    from motionfit.run import load_run

    loaded = load_run(run.root)
    data = loaded.config.data
    records, data_labels = read_records(source, data.format, data.video_root)
    records = align_labels(records, data_labels, loaded.labels, source)
    return evaluate_run(loaded, records, out_dir=out_dir, data_name=str(source))


def _initial_weights(config: Config, init_from: str | Path | None) -> str | None:
    if init_from is None:
        return config.model.pretrained
    source = Path(init_from)
    weights = source / "model.safetensors" if source.is_dir() else source
    if not weights.is_file():
        raise RunError(f"--init-from {source}: no model.safetensors (has that run finished?)")
    _warn_if_normalization_differs(config, RunPaths(weights.parent))
    return str(weights)


def _warn_if_normalization_differs(config: Config, source: RunPaths) -> None:
    """Weights learned on inputs normalized one way fine-tune badly on inputs normalized
    another way: warn when the source run's augment.mean/std differ from this run's."""
    if not source.config.is_file():
        return
    theirs = load_config(source.config).augment
    ours = config.augment
    if (theirs.mean, theirs.std) != (ours.mean, ours.std):
        warnings.warn(
            f"--init-from {source.root} was trained with augment.mean/std {theirs.mean}/"
            f"{theirs.std}; this run uses {ours.mean}/{ours.std}: set augment.mean and "
            "augment.std to the source run's",
            stacklevel=3,
        )
