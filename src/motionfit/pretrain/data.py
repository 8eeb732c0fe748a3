"""The pretraining data module: any video source with its labels ignored, a held-out fraction
for the validation reconstruction loss, and the clips shown in the reconstruction previews.

It is :class:`~motionfit.train.datamodule.VideoDataModule` (same decoding, temporal sampling,
augmentation, resumable sharded loaders) over unlabeled records: no classes, no clean-train
subset, no label-dependent checks.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader

from motionfit.config import Config
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.guard import enforce_guard
from motionfit.data.records import LabelMap, VideoRecord, read_records
from motionfit.data.splits import write_list
from motionfit.errors import DataError
from motionfit.train.datamodule import TrainingSplit, VideoDataModule

NO_CLASSES = LabelMap()


class UnlabeledDataModule(VideoDataModule):
    """Train/validation clips of a video collection for masked pretraining.

    Every video of ``data.source`` (a plain folder of videos, or any labeled source: labels are
    dropped) is a training video, except ``pretrain.val_fraction`` held out for validation
    (seeded by ``data.split_seed``; ``data.val`` replaces the held-out part when set). The split
    is saved in the run directory so a resumed run reads the same videos. As in fine-tuning,
    an unreadable held-out video is left out of validation (listed once in ``bad_files.tsv``),
    never replaced by another.
    """

    activity = "pretraining"

    @classmethod
    def _read_source(
        cls, config: Config, source: str, labels: LabelMap | None
    ) -> tuple[list[VideoRecord], LabelMap]:
        """Every video of ``source``, its label dropped."""
        records, _ = read_records(source, config.data.format, config.data.video_root)
        return [replace(record, label=-1) for record in records], NO_CLASSES

    @classmethod
    def _read_saved(
        cls, config: Config, path: Path, labels: LabelMap | None
    ) -> tuple[list[VideoRecord], LabelMap]:
        """A split list this run saved (no classes)."""
        records, _ = read_records(path, "list", config.data.video_root)
        return [replace(record, label=-1) for record in records], NO_CLASSES

    @classmethod
    def _train_ratio(cls, config: Config) -> float:
        """All but ``pretrain.val_fraction`` (1.0: nothing held out)."""
        return 1.0 - config.pretrain.val_fraction

    @classmethod
    def _check_split(cls, config: Config, split: TrainingSplit) -> None:
        """A DataError for fewer training videos than one batch."""
        batch = config.train.batch_size
        if len(split.train) < batch:
            raise DataError(
                f"{config.data.source}: {len(split.train)} training videos, fewer than one "
                f"batch (train.batch_size={batch})"
            )

    def prepare_records(self) -> LabelMap:
        """Take the split (read now unless given) and check the augmentation settings; writes
        nothing."""
        if self.labels is not None:
            return self.labels
        split = self.split or self.read_split(self.config, self.run, self.resume)
        self.train_records, self.val_records = split.train, split.val
        enforce_guard(self.config.augment)
        self.labels = NO_CLASSES
        return self.labels

    def save_records(self) -> None:
        """Write ``split/train.txt`` and ``split/val.txt`` for a split made here (rank 0)."""
        split = self.run.split_dir
        rank = rank_zero_only.rank  # type: ignore[attr-defined]  # Lightning sets it at run time
        if rank != 0 or self.config.data.val is not None:
            return
        if not (split / "train.txt").is_file():
            write_list(self.train_records, split / "train.txt", NO_CLASSES)
            if self.val_records:
                write_list(self.val_records, split / "val.txt", NO_CLASSES)

    def setup(self, stage: str | None = None) -> None:
        """Build the training and (if any) validation datasets."""
        self.prepare_records()
        cfg = self.config
        common = self.dataset_options()
        self.train_set = VideoClipDataset(
            self.train_records, mode="train", repeated=cfg.data.repeated_augmentation, **common
        )
        preview_records = self.val_records or self.train_records
        if self.val_records:
            # an unreadable validation video is left out (as in fine-tuning), never replaced
            self.val_set = VideoClipDataset(
                self.val_records, mode="eval", leave_out_bad=True, **common
            )
        # previews need a clip per slot: an unreadable video is replaced there
        self.preview_set = VideoClipDataset(preview_records, mode="eval", **common)

    def val_dataloader(self) -> list[DataLoader]:
        """The held-out videos (none when there are none)."""
        return [self._eval_loader(self.val_set)] if self.val_records else []

    def preview_clips(self, count: int) -> torch.Tensor:
        """uint8 ``[count, C, T, S, S]``: the first ``count`` validation videos (training videos
        when none are held out), one centre clip each, the same every epoch."""
        count = min(count, len(self.preview_set))
        return torch.stack([self.preview_set[i]["video"][0] for i in range(count)])
