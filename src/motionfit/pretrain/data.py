"""The pretraining data module: any video source with its labels ignored, a held-out fraction
for the validation reconstruction loss, and the clips shown in the reconstruction previews.

It is :class:`~motionfit.train.datamodule.VideoDataModule` (same decoding, temporal sampling,
augmentation, resumable sharded loaders) over unlabeled records: no classes, no clean-train
subset, no label-dependent checks.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader

from motionfit.data.dataset import VideoClipDataset
from motionfit.data.guard import enforce_guard
from motionfit.data.records import LabelMap, VideoRecord, read_records
from motionfit.data.splits import stratified_split, write_list
from motionfit.errors import DataError
from motionfit.train.datamodule import VideoDataModule

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

    def prepare_records(self) -> LabelMap:
        """Read the videos and make (or, resuming, reuse) the split; writes nothing."""
        if self.labels is not None:
            return self.labels
        data = self.config.data
        if data.source is None:
            raise DataError("no pretraining data: pass --data SOURCE (config key 'data.source')")
        split = self.run.split_dir
        if self.resume and data.val is None and (split / "train.txt").is_file():
            self.train_records = self._read_videos(str(split / "train.txt"), "list")
            val_file = split / "val.txt"  # absent when nothing was held out
            has_val = val_file.is_file()
            self.val_records = self._read_videos(str(val_file), "list") if has_val else []
        else:
            records = self._read_videos(data.source, data.format)
            if data.val is not None:
                self.train_records = records
                self.val_records = self._read_videos(data.val, data.format)
            elif self.config.pretrain.val_fraction > 0:
                self.train_records, self.val_records = stratified_split(
                    records, ratio=1.0 - self.config.pretrain.val_fraction, seed=data.split_seed
                )
            else:
                self.train_records, self.val_records = records, []
        if len(self.train_records) < self.config.train.batch_size:
            raise DataError(
                f"{data.source}: {len(self.train_records)} training videos, fewer than one batch "
                f"(train.batch_size={self.config.train.batch_size})"
            )
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

    def _read_videos(self, source: str, format: str) -> list[VideoRecord]:
        records, _ = read_records(source, format, self.config.data.video_root)
        return [replace(record, label=-1) for record in records]

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
