"""The run directory: what a training run writes, and loading a trained model back from it.

A run directory is a complete artifact: ``motionfit evaluate|predict|export|report`` take one
and need nothing else.

```
RUN_DIR/
  config.yaml            the fully resolved config
  labels.txt             class names, line i = class id i
  split/                 train.txt, val.txt (when the run made its own split)
  model.safetensors      weights of the best model (EMA weights when EMA is on)
  checkpoints/last.ckpt  Lightning checkpoint for --resume (atomic)
  checkpoints/best.ckpt  Lightning checkpoint of the best validation score
  metrics.csv            one row per epoch
  curves.png             learning curves with the overfitting gap
  tb/                    TensorBoard logs
  bad_files.tsv          unreadable videos met while training (if any)
  .motionfit             marker: this folder is a motionfit run (see motionfit.output_dir)
```

A run has *started* once it holds a checkpoint or weights. A new run refuses a started one
(``--resume`` continues it) and a folder with files motionfit did not write (unless
``force``); a folder of a run that never started (a failed start) is simply used again.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from motionfit.config import Config, load_config
from motionfit.data.records import LabelMap
from motionfit.errors import RunError
from motionfit.output_dir import (
    LOCK_FILE,
    check_output_dir,
    claim_output_dir,
    lock_output_dir,
)

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.txt"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
BAD_FILES = "bad_files.tsv"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
BEST_CHECKPOINT = "best.ckpt"
SPLIT_DIR = "split"
TENSORBOARD_DIR = "tb"
# what a run that never started may have left; cleared before it is started again
STALE_ON_RETRY = (SPLIT_DIR, TENSORBOARD_DIR, BAD_FILES, METRICS_FILE, CURVES_FILE)


@dataclass(frozen=True)
class RunPaths:
    """The files of one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        """Resolved config YAML."""
        return self.root / CONFIG_FILE

    @property
    def labels(self) -> Path:
        """Class names, one per line."""
        return self.root / LABELS_FILE

    @property
    def model(self) -> Path:
        """Weights of the best model (safetensors, ``VideoClassifier`` keys)."""
        return self.root / MODEL_FILE

    @property
    def metrics(self) -> Path:
        """Per-epoch metrics CSV."""
        return self.root / METRICS_FILE

    @property
    def curves(self) -> Path:
        """Learning-curve plot."""
        return self.root / CURVES_FILE

    @property
    def bad_files(self) -> Path:
        """Report of unreadable videos."""
        return self.root / BAD_FILES

    @property
    def checkpoints(self) -> Path:
        """Folder of Lightning checkpoints."""
        return self.root / CHECKPOINT_DIR

    @property
    def last_checkpoint(self) -> Path:
        """Checkpoint to resume from."""
        return self.checkpoints / LAST_CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        """Checkpoint with the best validation score."""
        return self.checkpoints / BEST_CHECKPOINT

    @property
    def split_dir(self) -> Path:
        """Train/val lists of a split the run made itself."""
        return self.root / SPLIT_DIR

    def started(self) -> bool:
        """True once the run holds a checkpoint or weights (it trained at least once)."""
        return any(p.is_file() for p in (self.last_checkpoint, self.best_checkpoint, self.model))


class RunStart(NamedTuple):
    """How a run directory is (re)started: ``resume`` from ``last.ckpt``, or start afresh;
    ``retry``: the folder holds a run that never started, whose leftovers are cleared."""

    resume: bool
    retry: bool


def data_inputs(config: Config) -> list[str | None]:
    """The paths a run reads (its output must neither hold them nor lie inside them): the data
    and a local file or folder of pretrained weights (a hub id is no path and is skipped)."""
    data = config.data
    return [data.source, data.val, data.test, data.labels, data.video_root, config.model.pretrained]


def check_run_dir(
    run: RunPaths,
    kind: str,
    *,
    resume: bool,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> RunStart:
    """Check that a ``kind`` run (``train``, ``pretrain``) may be written to ``run`` and take
    its lock (see :func:`~motionfit.output_dir.lock_output_dir`); writes nothing else.
    ``resume`` of a run that never started starts it afresh with its own config. Raises
    :class:`RunError` (or its :class:`~motionfit.errors.OutputError`) otherwise, also while
    another process writes ``run``."""
    if resume:
        if run.root.exists() and not run.root.is_dir():
            raise RunError(f"--resume {run.root} is a file; --resume takes a run directory")
        if not run.config.is_file():
            raise RunError(f"{run.root}: nothing to resume (no {run.config.name})")
        lock_output_dir(run.root, option="--resume")  # one writer: refused while another runs
        if run.last_checkpoint.is_file():
            return RunStart(resume=True, retry=False)
        if run.started():
            raise RunError(f"{run.root}: nothing to resume (no {run.last_checkpoint})")
        return RunStart(resume=False, retry=True)
    if _is_launched_child():
        return RunStart(resume=False, retry=False)  # rank 0 has checked and claimed the folder
    if (run.root / LOCK_FILE).is_file():
        lock_output_dir(run.root)  # a run in progress elsewhere is refused before anything else
    if run.config.is_file() and run.started():
        raise RunError(
            f"{run.root} already holds a run; continue it with --resume or choose another --out"
        )
    ours = check_output_dir(run.root, kind, force=force, inputs=inputs)
    return RunStart(resume=False, retry=ours)


def claim_run_dir(run: RunPaths, kind: str, start: RunStart) -> None:
    """Create (or take back) the run folder right before its first write: marker, stale
    temporary files cleared and, for a retry, what the failed start left. Rank 0 only."""
    if _is_launched_child() or int(os.environ.get("RANK", "0")) != 0:
        return
    claim_output_dir(run.root, kind)
    if start.retry:
        for name in STALE_ON_RETRY:
            stale = run.root / name
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a run's ``metrics.csv`` as floats (NaN where a value is empty or not a number;
    ``epoch`` and ``step`` as ints); empty when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [{key: _number(raw.get(key)) for key in reader.fieldnames or ()} for raw in reader]
    for row in rows:
        for key in ("epoch", "step"):
            if math.isfinite(row.get(key, math.nan)):
                row[key] = int(row[key])
    return rows


def metric_columns(rows: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """``metrics.csv`` rows as columns: column name -> its value in each row."""
    return {
        column: [row.get(column, math.nan) for row in rows] for column in (rows[0] if rows else ())
    }


def _number(text: str | None) -> float:
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def _is_launched_child() -> bool:
    """True in the processes Lightning's DDP launcher starts after rank 0 (they re-run the
    command, so they find the run directory rank 0 just made)."""
    return os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"


@dataclass
class LoadedRun:
    """A trained model with everything needed to use it."""

    paths: RunPaths
    config: Config
    labels: LabelMap
    model: torch.nn.Module  # a VideoClassifier in eval mode, on the CPU
    weights: Path


def resolve_run(run_or_checkpoint: str | Path) -> tuple[RunPaths, Path]:
    """``RUN_DIR`` or a checkpoint/weights file inside one -> (run paths, weights file)."""
    target = Path(run_or_checkpoint)
    if not target.exists():
        raise RunError(f"run directory or checkpoint not found: {target}")
    if target.is_dir():
        paths = RunPaths(target)
        weights = paths.model if paths.model.is_file() else paths.best_checkpoint
        if not weights.is_file():
            weights = paths.last_checkpoint
        if not weights.is_file():
            raise RunError(
                f"{target}: no {MODEL_FILE} or checkpoint (has the run finished one epoch?)"
            )
    else:
        weights = target
        root = target.parent.parent if target.parent.name == CHECKPOINT_DIR else target.parent
        paths = RunPaths(root)
    for required in (paths.config, paths.labels):
        if not required.is_file():
            raise RunError(
                f"{paths.root}: missing {required.name} (not a motionfit run directory?)"
            )
    return paths, weights


def load_run(run_or_checkpoint: str | Path) -> LoadedRun:
    """Load the config, labels and trained model of a run directory (or of one of its
    checkpoints); the model is in eval mode on the CPU."""
    from motionfit.models.build import build_model_from_config
    from motionfit.models.hf_checkpoint import install_learned_tables
    from motionfit.models.hf_common import HFVideoClassifier
    from motionfit.models.weights import (
        load_classifier_weights,
        read_class_names,
        read_state_dict,
    )

    paths, weights = resolve_run(run_or_checkpoint)
    config = load_config(paths.config)
    labels = LabelMap.load(paths.labels)
    model = build_model_from_config(config, len(labels), drop_path=0.0, class_names=labels.names)
    state = read_state_dict(weights)
    if isinstance(model, HFVideoClassifier):  # a learned VideoMAE table is no built-in state
        install_learned_tables(model, state)
    report = load_classifier_weights(
        model, state, str(weights), lambda key: key, source_classes=read_class_names(weights)
    )
    if report.missing or report.unexpected or report.new_head:
        raise RunError(f"{weights}: does not match the run's model ({report.summary()})")
    model.eval()
    return LoadedRun(paths=paths, config=config, labels=labels, model=model, weights=weights)
