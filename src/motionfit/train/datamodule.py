"""The LightningDataModule: records -> train/val split -> clip datasets -> resumable loaders.

Validation has two loaders: the validation videos, and a fixed subset of the *training*
videos scored with the eval transforms ("clean-train"), so the overfitting gap between
clean-train and validation accuracy is measured every epoch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from motionfit.config import Config
from motionfit.data.augment import STAGES, build_stage
from motionfit.data.dataset import VideoClipDataset, collate_clips, worker_init_fn
from motionfit.data.guard import enforce_guard
from motionfit.data.records import LabelMap, VideoRecord, read_records
from motionfit.data.splits import stratified_split, write_list
from motionfit.data.timebase import resolve_stride_fps
from motionfit.data.transforms import flip_label_map, warn_unmapped_direction_classes
from motionfit.errors import DataError
from motionfit.run import RunPaths
from motionfit.run_start import RunDataModule, is_rank_zero
from motionfit.train.balance import (
    CLASS_BALANCE_FILE,
    ClassBalancedSampler,
    class_counts,
    resolve_class_weights,
    warn_if_imbalanced,
    write_class_balance,
)
from motionfit.train.multi_label import label_counts, positive_weights

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self: Python 3.11+


class ResumableSampler(DistributedSampler):
    """torch's ``DistributedSampler`` (seeded shuffle per epoch, one shard per rank) that can
    start an epoch part-way, and that keeps the dataset's epoch in step with its own."""

    dataset: VideoClipDataset

    def __init__(self, dataset: VideoClipDataset, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.resume_epoch = -1
        self.resume_skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the shuffle epoch and the dataset's augmentation epoch."""
        super().set_epoch(epoch)
        self.dataset.set_epoch(epoch)

    def __iter__(self):
        indices = list(super().__iter__())
        if self.epoch == self.resume_epoch:
            indices = indices[self.resume_skip :]
            self.resume_epoch = -1
        return iter(indices)


class BalancedResumableSampler(ResumableSampler, ClassBalancedSampler):
    """:class:`ResumableSampler` over class-balanced draws (``train.balanced_sampler``)."""


class ResumableLoader(DataLoader):
    """A DataLoader whose position in the epoch goes into Lightning checkpoints
    (``state_dict``/``load_state_dict``), so ``--resume`` continues mid-epoch with exactly the
    batches an uninterrupted run would see. ``batches_done`` is set by the training task after
    each batch (the loader itself cannot tell prefetched batches from consumed ones).

    A finished epoch is saved as the start of the next one, and ``epoch`` (the epoch the trainer
    is about to run, see :func:`loader_start_epoch`) shuffles the first iterator as that epoch:
    Lightning makes the iterator, whose workers draw their first indices at once, before it
    sets the sampler's epoch, and does not restore the loader of an epoch-end checkpoint."""

    sampler: ResumableSampler

    def __init__(self, *args: Any, epoch: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches_done = 0
        if epoch:
            self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, int]:
        """Epoch and number of batches already trained in it (a complete epoch: the next
        epoch, none trained)."""
        epoch, done = int(self.sampler.epoch), int(self.batches_done)
        if done >= len(self):
            epoch, done = epoch + 1, 0
        return {"epoch": epoch, "batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Skip the batches of ``state['epoch']`` that were already trained (and shuffle as in
        that epoch even if the iterator is made before Lightning sets the epoch)."""
        self.sampler.set_epoch(int(state["epoch"]))
        self.sampler.resume_epoch = int(state["epoch"])
        self.sampler.resume_skip = int(state["batches_done"]) * int(self.batch_size or 1)
        self.batches_done = int(state["batches_done"])


def loader_start_epoch(trainer: L.Trainer | None) -> int:
    """The epoch ``trainer`` starts (or resumes) training with: the one Lightning sets on the
    samplers when the epoch begins (0 without a trainer)."""
    if trainer is None:
        return 0
    current = trainer.fit_loop.epoch_progress.current  # typed as its base, with no .processed
    return int(current.processed)  # type: ignore[attr-defined]


def train_loader(
    config: Config,
    dataset: Any,
    labels: list[int],
    num_classes: int,
    shard: tuple[int, int],
    loader_options: dict[str, Any] | None = None,
    epoch: int = 0,
) -> ResumableLoader:
    """The training loader of ``config``: full batches drawn by a seeded shuffle, or
    class-balanced over ``labels`` (``train.balanced_sampler``); sharded by ``shard``
    ``(world_size, rank)``, resumable mid-epoch; its first iterator draws ``epoch``'s order
    (:func:`loader_start_epoch`). ``loader_options`` go to the DataLoader."""
    options: dict[str, Any] = {
        "num_replicas": shard[0],
        "rank": shard[1],
        "drop_last": True,
        "seed": config.train.seed,
    }
    if config.train.balanced_sampler:
        sampler: ResumableSampler = BalancedResumableSampler(
            dataset, labels=labels, num_classes=num_classes, **options
        )
    else:
        sampler = ResumableSampler(dataset, shuffle=True, **options)
    return ResumableLoader(
        dataset,
        batch_size=config.train.batch_size,
        sampler=sampler,
        drop_last=True,
        epoch=epoch,
        **(loader_options or {}),
    )


@dataclass(frozen=True)
class TrainingSplit:
    """The videos a run trains and validates on, and its classes (in label order)."""

    train: list[VideoRecord]
    val: list[VideoRecord]
    labels: LabelMap


class VideoDataModule(RunDataModule):
    """Builds the datasets and loaders of a run from its config (and its split, read by
    :meth:`read_split` before the module exists, so the config's strides can be resolved from
    the training videos first)."""

    activity = "training"  # in messages about the data

    def __init__(
        self,
        config: Config,
        run: RunPaths,
        resume: bool = False,
        split: TrainingSplit | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.run = run
        self.resume = resume
        self.split = split
        self.labels: LabelMap | None = None
        self.train_records: list[VideoRecord] = []
        self.val_records: list[VideoRecord] = []
        self.train_set: VideoClipDataset | None = None
        self.flip_map: dict[int, int] = {}

    # -- records ---------------------------------------------------------------------------

    @classmethod
    def for_run(cls, config: Config, run: RunPaths, resume: bool = False) -> Self:
        """The data module of a run: the split read (:meth:`read_split`), the strides' frame
        rate fixed from its training videos (``sampling.stride_fps: auto``) before the module
        exists, the settings checked (:meth:`prepare_records`). Writes nothing."""
        split = cls.read_split(config, run, resume)
        module = cls(resolve_stride_fps(config, split.train), run, resume=resume, split=split)
        module.prepare_records()
        return module

    @classmethod
    def read_split(cls, config: Config, run: RunPaths, resume: bool = False) -> TrainingSplit:
        """Read the data and make (or reuse) the train/val split; writes nothing.

        A resumed run reads the split saved in its run directory, so it trains on exactly the
        same videos; ``data.val`` replaces the held-out part; otherwise a stratified,
        group-aware split (every rank computes the same seeded one)."""
        data = config.data
        if data.source is None:
            raise DataError(
                f"no {cls.activity} data: pass --data SOURCE (config key 'data.source')"
            )
        saved = run.split_dir
        if resume and data.val is None and (saved / "train.txt").is_file():
            train, labels = cls._read_saved(config, saved / "train.txt", None)
            val_file = saved / "val.txt"
            val = cls._read_saved(config, val_file, labels)[0] if val_file.is_file() else []
            split = TrainingSplit(train, val, labels)
        else:
            records, labels = cls._read_source(config, data.source, None)
            ratio = cls._train_ratio(config)
            if data.val is not None:
                split = TrainingSplit(
                    records, cls._read_source(config, data.val, labels)[0], labels
                )
            elif ratio < 1.0:
                train, val = stratified_split(records, ratio=ratio, seed=data.split_seed)
                split = TrainingSplit(train, val, labels)
            else:
                split = TrainingSplit(records, [], labels)
        cls._check_split(config, split)
        return split

    @classmethod
    def _read_source(
        cls, config: Config, source: str, labels: LabelMap | None
    ) -> tuple[list[VideoRecord], LabelMap]:
        """Labeled records of ``source`` (classes of ``labels`` or ``data.labels``)."""
        data = config.data
        records, label_map = read_records(
            source, data.format, data.video_root, labels or data.labels
        )
        if any(r.label < 0 for r in records):
            raise DataError(f"{source}: has unlabeled videos; training needs labels")
        return records, label_map

    @classmethod
    def _read_saved(
        cls, config: Config, path: Path, labels: LabelMap | None
    ) -> tuple[list[VideoRecord], LabelMap]:
        """A split list this run saved."""
        return read_records(path, labels=labels)

    @classmethod
    def _train_ratio(cls, config: Config) -> float:
        """The share of ``data.source`` kept for training when no ``data.val`` is given."""
        return config.data.split_ratio

    @classmethod
    def _check_split(cls, config: Config, split: TrainingSplit) -> None:
        """A DataError for a split that cannot train: no validation videos, one class, clips
        with several labels in a single-label run."""
        source = config.data.source
        if not config.data.multi_label and any(r.more_labels for r in split.train + split.val):
            raise DataError(
                f"{source}: some clips have several labels; set config key 'data.multi_label' "
                "to true (motionfit train does so itself)"
            )
        if not split.val:
            raise DataError(f"{source}: too few videos to hold out a validation split")
        if len(split.labels) < 2:
            raise DataError(f"{source}: training needs at least 2 classes, got {len(split.labels)}")

    def prepare_records(self) -> LabelMap:
        """Take the split (read now unless given) and check the augmentation settings against
        the classes. Writes nothing (see :meth:`save_records`)."""
        if self.labels is not None:
            return self.labels
        split = self.split or self.read_split(self.config, self.run, self.resume)
        self.train_records, self.val_records, labels = split.train, split.val, split.labels
        enforce_guard(self.config.augment)  # strict mode fails here, before anything is written
        augment = self.config.augment
        self.flip_map = flip_label_map(
            labels.names, augment.flip_label_map, augment.flip_label_map_unknown
        )
        for stage in STAGES:  # an augmentation's bad setting (a label map) fails here too
            build_stage(augment, stage, labels.names)
        self.labels = labels
        self.loss_weights()  # a bad train.class_weights fails here too
        return labels

    def save_records(self) -> None:
        """Write ``labels.txt``, ``class_balance.csv`` and, for a split made here,
        ``split/{train,val}.txt`` (rank 0; a resumed run keeps the split it has)."""
        if not is_rank_zero() or self.labels is None:
            return
        self.labels.save(self.run.labels)
        write_class_balance(
            self.run.root / CLASS_BALANCE_FILE,
            self.labels.names,
            self.class_counts(),
            self.loss_weights(),
            self.config.train.balanced_sampler,
        )
        split = self.run.split_dir
        kept = self.resume and (split / "train.txt").is_file()
        if self.config.data.val is None and not kept:
            write_list(self.train_records, split / "train.txt", self.labels)
            write_list(self.val_records, split / "val.txt", self.labels)

    # -- Lightning hooks -------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Build the train, validation and clean-train datasets."""
        labels = self.prepare_records()
        cfg = self.config
        with warnings.catch_warnings():
            if self.trainer is not None and self.trainer.global_rank != 0:
                warnings.simplefilter("ignore")  # warn once, on rank 0
            warn_unmapped_direction_classes(
                labels.names, cfg.augment.flip_label_map, cfg.augment.hflip
            )
            compensated = cfg.train.class_weights != "none" or cfg.train.balanced_sampler
            warn_if_imbalanced(labels.names, self.class_counts(), compensated)
        common = self.dataset_options()
        self.train_set = VideoClipDataset(
            self.train_records,
            mode="train",
            flip_map=self.flip_map,
            repeated=cfg.data.repeated_augmentation,
            **common,
        )
        # validation scores videos the way evaluate does (same clips, crops and sampling
        # mode, softmax averaged per video); an unreadable one is left out, never replaced
        clips, crops = cfg.eval.validation_views()
        eval_common = {
            **common,
            "num_clips": clips,
            "crops": crops,
            "eval_mode": cfg.eval.mode,
            "leave_out_bad": True,
        }
        self.val_set = VideoClipDataset(self.val_records, mode="eval", **eval_common)
        self.clean_train_set = None
        subset = self.clean_train_subset()
        if subset:
            self.clean_train_set = VideoClipDataset(subset, mode="eval", **eval_common)

    def dataset_options(self) -> dict:
        """The :class:`VideoClipDataset` keyword arguments every dataset of the run shares."""
        cfg = self.config
        return {
            "sampling": cfg.sampling,
            "augment": cfg.augment,
            "seed": cfg.train.seed,
            "decoder": cfg.data.decoder,
            "bad_files": cfg.data.bad_files,
            "max_bad_fraction": cfg.data.max_bad_fraction,
            "bad_file_log": self.run.bad_files,
            "class_names": self.labels.names if self.labels is not None else (),
            "multi_label": cfg.data.multi_label,
            "num_classes": len(self.labels) if self.labels is not None else 0,
        }

    def clean_train_subset(self) -> list[VideoRecord]:
        """A fixed, seeded sample of the training videos scored with eval transforms."""
        count = min(self.config.train.clean_train_videos, len(self.train_records))
        order = np.random.default_rng(self.config.train.seed).permutation(len(self.train_records))
        return [self.train_records[i] for i in sorted(order[:count])]

    def train_batches_per_epoch(self, world_size: int) -> int:
        """Batches per epoch and rank of :meth:`train_dataloader` (both drop the remainder)."""
        if self.train_set is None:
            raise RuntimeError("train_batches_per_epoch() needs setup('fit') first")
        per_rank = len(self.train_set) // world_size
        return per_rank // self.config.train.batch_size

    def class_counts(self) -> torch.Tensor:
        """Training videos per class (multi-label: every label of a clip counts)."""
        labels = self.prepare_records()
        if self.config.data.multi_label:
            return label_counts([r.labels for r in self.train_records], len(labels))
        return class_counts([r.label for r in self.train_records], len(labels))

    def loss_weights(self) -> torch.Tensor | None:
        """The cross-entropy class weights of ``train.class_weights`` (None = unweighted);
        multi-label: BCE's ``pos_weight`` (``balanced``: negatives / positives per class)."""
        spec = self.config.train.class_weights
        if self.config.data.multi_label and spec == "balanced":
            return positive_weights(self.class_counts(), len(self.train_records))
        return resolve_class_weights(spec, self.prepare_records().names, self.class_counts())

    def train_dataloader(self) -> ResumableLoader:
        """Shuffled (or class-balanced: ``train.balanced_sampler``), sharded per rank,
        resumable mid-epoch."""
        labels = [r.label for r in self.train_records]
        shard = (self._world_size(), self._rank())
        return train_loader(
            self.config,
            self.train_set,
            labels,
            len(self.prepare_records()),
            shard,
            self._loader_options(),
            epoch=loader_start_epoch(self.trainer),
        )

    def val_dataloader(self) -> list[DataLoader]:
        """[validation videos, clean-train subset]."""
        sets = [self.val_set] + ([self.clean_train_set] if self.clean_train_set else [])
        return [self._eval_loader(dataset) for dataset in sets]

    def _eval_loader(self, dataset: VideoClipDataset) -> DataLoader:
        sampler: DistributedSampler | None = None
        if self._world_size() > 1:
            sampler = DistributedSampler(
                dataset, num_replicas=self._world_size(), rank=self._rank(), shuffle=False
            )
        return DataLoader(
            dataset,
            batch_size=self.config.eval.batch_size,
            sampler=sampler,
            **self._loader_options(),
        )

    def _loader_options(self) -> dict:
        workers = self.config.data.num_workers
        return {
            "num_workers": workers,
            "worker_init_fn": worker_init_fn,
            "collate_fn": collate_clips,
            "persistent_workers": workers > 0,
            "pin_memory": torch.cuda.is_available(),
        }

    def _world_size(self) -> int:
        return self.trainer.world_size if self.trainer is not None else 1

    def _rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0
