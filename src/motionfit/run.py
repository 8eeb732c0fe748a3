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
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from motionfit.config import Config, load_config
from motionfit.data.records import LabelMap
from motionfit.errors import RunError

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.txt"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
BAD_FILES = "bad_files.tsv"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
BEST_CHECKPOINT = "best.ckpt"


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
        return self.root / "split"


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
    from motionfit.models.build import build_model
    from motionfit.models.registry import HeadSpec
    from motionfit.models.weights import load_classifier_weights, read_state_dict

    paths, weights = resolve_run(run_or_checkpoint)
    config = load_config(paths.config)
    labels = LabelMap.load(paths.labels)
    model = build_model(
        config.model.name,
        num_classes=len(labels),
        num_frames=config.sampling.num_frames,
        image_size=config.augment.crop_size,
        head=HeadSpec(dropout=config.model.dropout, hidden_dim=config.model.hidden_dim),
        drop_path=0.0,
    )
    state = read_state_dict(weights)
    report = load_classifier_weights(model, state, str(weights), lambda key: key)
    if report.missing or report.new_head:
        raise RunError(f"{weights}: does not match the run's model ({report.summary()})")
    model.eval()
    return LoadedRun(paths=paths, config=config, labels=labels, model=model, weights=weights)
