"""``motionfit train --features DIR``: train a linear or attentive probe on cached tokens.

The probe is the model's own top (``pool`` + head) over the frozen backbone's cached tokens;
training reuses the supervised task, Trainer, callbacks and schedule of ``motionfit train``
with the clips replaced by their cached tokens, so the run directory is a normal one (the
exported ``model.safetensors`` holds backbone and probe): ``evaluate``, ``predict`` and
``export`` work on it, and a sweep reuses the same cache.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from torch.utils.data import DataLoader, Dataset

from motionfit.config import Config, load_config
from motionfit.data.augment import registered
from motionfit.data.records import LabelMap
from motionfit.errors import ConfigError
from motionfit.features.cache import FeatureCache
from motionfit.models.build import build_model_from_config
from motionfit.models.freeze import TrainableCount, freeze_model
from motionfit.models.hf_common import TokenPoolingClassifier
from motionfit.models.weights import read_state_dict
from motionfit.output_dir import releases_output_locks
from motionfit.run import RunPaths
from motionfit.run_start import RunDataModule, is_rank_zero
from motionfit.train.balance import class_counts, resolve_class_weights
from motionfit.train.callbacks import CLASSIFICATION_METRICS
from motionfit.train.datamodule import ResumableLoader, train_loader
from motionfit.train.fit import TrainResult
from motionfit.train.runner import RunData, RunTemplate, run_template
from motionfit.train.task import VideoClassificationTask

# What a probe may not change: the cached tokens were made with these.
_FIXED = ("model.name", "sampling", "augment", "data")


class FeatureDataset(Dataset):
    """Cached views of one split as items ``{"video": tokens, "label", "index"}``.

    Training (``views_per_epoch``): item ``i`` of epoch ``e`` is view ``e % K`` of video ``i``,
    the clip ``motionfit train`` would draw in epoch ``e`` (for ``e < K``). Validation: all
    views of video ``i``, ``[V, N, D]``.
    """

    def __init__(self, cache: FeatureCache, split: str, train: bool) -> None:
        self.tokens = cache.tokens
        self.view_labels = cache.labels
        self.videos = cache.split_rows(split)
        self.labels = [cache.rows[rows[0]].label for rows in self.videos]
        self.train = train
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the view training epoch ``epoch`` uses."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict:
        views = self.videos[index]
        label = self.labels[index]
        rows: int | list[int] = views  # validation: every view
        if self.train:
            rows = views[self.epoch % len(views)]
            label = int(self.view_labels[rows])
        tokens = torch.from_numpy(np.asarray(self.tokens[rows], dtype=np.float32))
        return {"video": tokens, "label": label, "index": index}


class FeatureDataModule(RunDataModule):
    """Loaders over a feature cache, shuffled and resumable as ``motionfit train``'s."""

    def __init__(
        self, config: Config, cache: FeatureCache, labels: LabelMap, run: RunPaths
    ) -> None:
        super().__init__()
        self.config = config
        self.labels = labels
        self.run = run
        self.train_set = FeatureDataset(cache, "train", train=True)
        self.val_set = FeatureDataset(cache, "val", train=False)

    def save_records(self) -> None:
        """Write the run's ``labels.txt`` (rank 0)."""
        if is_rank_zero():
            self.labels.save(self.run.labels)

    def loss_weights(self) -> torch.Tensor | None:
        """The cross-entropy class weights of ``train.class_weights`` (None = unweighted)."""
        counts = class_counts(self.train_set.labels, len(self.labels))
        return resolve_class_weights(self.config.train.class_weights, self.labels.names, counts)

    def train_batches_per_epoch(self, world_size: int) -> int:
        """Full batches per epoch and rank (the last partial batch is dropped)."""
        return len(self.train_set) // world_size // self.config.train.batch_size

    def train_dataloader(self) -> ResumableLoader:
        """Seeded shuffle (or class-balanced draws) per epoch, as the video loader's."""
        trainer = self.trainer
        shard = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return train_loader(
            self.config, self.train_set, self.train_set.labels, len(self.labels), shard
        )

    def val_dataloader(self) -> list[DataLoader]:
        """The validation videos, all their cached views."""
        return [DataLoader(self.val_set, batch_size=self.config.eval.batch_size)]


class ProbeTask(VideoClassificationTask):
    """:class:`VideoClassificationTask` on cached tokens: ``model.pool`` + ``model.head``."""

    model: TokenPoolingClassifier

    def classify(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, N, D]`` -> logits ``[B, K]``."""
        return self.model.head(self.model.pool(tokens))

    def compute_loss(
        self, batch: dict, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Label-smoothed cross-entropy of the probe (no mixing: see :func:`train_probe`)."""
        logits = self.classify(batch["video"])
        targets = F.one_hot(batch["label"], self.num_classes).to(logits.dtype)
        return self.classification_loss(logits, targets), logits, targets

    def video_probabilities(self, video: torch.Tensor) -> torch.Tensor:
        """Cached views ``[B, V, N, D]`` -> class probabilities ``[B, K]`` (mean over V)."""
        batch, views = video.shape[:2]
        logits = self.classify(video.flatten(0, 1))
        return logits.softmax(dim=-1).view(batch, views, -1).mean(dim=1)


@releases_output_locks  # the run folder's lock ends with the call
def train_probe(
    features: str | Path,
    out: str | Path,
    overrides: list[str] | None = None,
    *,
    progress: bool = True,
    force: bool = False,
) -> TrainResult:
    """Train the probe of the cached ``features`` into the run directory ``out``.

    ``overrides`` may change the head (``model.head``, ``model.dropout``, ...), optimizer,
    schedule and training length, not what the tokens were made with (model, clips,
    augmentation, data). Batch augmentations of pixels (:func:`pixel_batch_augments`) the features'
    config has on are turned off, with a note, and saved off in the run's ``config.yaml``;
    an override that turns one on is a ConfigError."""
    cache = FeatureCache(Path(features))
    cache.check_complete()
    config, turned_off = probe_config(cache, overrides or [])
    if turned_off and is_rank_zero():
        Console(stderr=True).print(
            f"note: the probe trains on cached tokens: turned off {', '.join(turned_off)} "
            "(batch augmentations of pixels; 0 in the run's config.yaml)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    done = run_template(
        ProbeRun(cache), config, out, force=force, progress=progress, inputs=[str(features)]
    )
    return TrainResult.of(done.trainer, done.run, done.config.train.monitor)


class ProbeRun(RunTemplate):
    """``motionfit train --features``: the cached tokens, the model's own top over the frozen
    backbone (its weights from the cache), the probe task."""

    command = "train"
    metrics = CLASSIFICATION_METRICS
    activity = "training"

    def __init__(self, cache: FeatureCache) -> None:
        self.cache = cache
        self.count: TrainableCount | None = None

    def data(self, config: Config, run: RunPaths, resume: bool) -> RunData:
        """The cached tokens of each split."""
        labels = LabelMap.load(self.cache.labels_path)
        datamodule = FeatureDataModule(config, self.cache, labels, run)
        return RunData(config, datamodule, len(datamodule.train_set))

    def task(self, config: Config, data: RunData) -> L.LightningModule:
        """The model (the head starts as ``motionfit train``'s would: built right after the
        run's seed is set), its backbone from the cache and frozen, in the probe task."""
        labels = data.datamodule.labels  # type: ignore[attr-defined]
        model = build_model_from_config(config, len(labels))
        model.load_state_dict(read_state_dict(self.cache.backbone_path), strict=False)
        self.count = freeze_model(model, "backbone")
        return ProbeTask(config, model, len(labels))

    def started(self, run: RunPaths, progress: bool) -> None:
        """Say what trains."""
        if progress and self.count is not None:
            Console(stderr=True).print(self.count.summary(), markup=False, highlight=False)


def probe_config(cache: FeatureCache, overrides: list[str]) -> tuple[Config, list[str]]:
    """The probe's config: the features' config with ``overrides`` and a frozen backbone, the
    pixel batch augmentations it has on turned off; and the keys turned off. A ConfigError
    when an override changes what the tokens depend on or turns such an augmentation on."""
    sets = [*overrides, "model.freeze=backbone"]
    config = load_config(cache.config_path, sets)
    _check_fixed(load_config(cache.config_path), config)
    named = [item.partition("=")[0].strip() for item in overrides]
    names = pixel_batch_augments(config)
    keys = [f"augment.{name}" for name in names]
    asked = [n for n in named for key in keys if n == key or n.startswith(f"{key}.")]
    if asked:
        raise ConfigError(
            f"config key '{asked[0]}': a probe trains on cached tokens, not pixels, so it "
            "cannot mix or blend clips; leave the key out (or turn it off)"
        )
    if names:
        off = [
            f"augment.{name}.{field}={value}"
            for name in names
            for field, value in registered()[name].turned_off().items()
        ]
        config = load_config(cache.config_path, [*sets, *off])
    return config, keys


def pixel_batch_augments(config: Config) -> list[str]:
    """The registered batch augmentations that would run in training with ``config`` (each
    needs the pixels of the batch's clips, which a probe on cached tokens does not have)."""
    if not config.augment.enabled:
        return []
    return [
        name
        for name, augmentation in registered("batch").items()
        if augmentation.is_on(config.augment.settings(name))
    ]


def _check_fixed(base: Config, config: Config) -> None:
    """A :class:`ConfigError` when an override changes what the cached tokens depend on."""
    for key in _FIXED:
        section, _, field = key.partition(".")
        old, new = getattr(base, section), getattr(config, section)
        if field:
            old, new = getattr(old, field), getattr(new, field)
        if section == "augment":
            batch = set(registered("batch"))
            old, new = (a.model_dump(exclude=batch) for a in (old, new))
        if old != new:
            raise ConfigError(
                f"config key '{key}': the cached features were made with other settings; "
                "make new features to change it"
            )
