"""Pretraining validation follows fine-tuning's bad-file policy: an unreadable held-out video
(a truncated .mp4 among real encoded ones) is left out of validation, never replaced by another
video, and is listed once in the run's bad_files.tsv."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest

from motionfit.config import load_config
from motionfit.data.dataset import BadVideoWarning
from motionfit.data.encode import write_video
from motionfit.pretrain.data import UnlabeledDataModule
from motionfit.pretrain.fit import pretrain
from motionfit.run import RunPaths, read_metrics

SETTINGS = [
    "data.num_workers=0",
    "data.max_bad_fraction=0.5",
    "train.batch_size=4",
    "train.log_every_n_steps=1",
    "output.tensorboard=false",
    "output.plots=false",
    "schedule.warmup_epochs=0",
    "pretrain.preview_every=0",
]


def _clip(seed: int) -> np.ndarray:
    """uint8 ``[10, 64, 64, 3]``: a bright square moving over noise."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 128, size=(10, 64, 64, 3), dtype=np.uint8)
    x0, y0 = (int(v) for v in rng.integers(0, 40, size=2))
    for t in range(10):
        video[t, y0 : y0 + 16, x0 + t : x0 + t + 16] = 255
    return video


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(training folder: 8 videos, validation folder: 3 videos and a truncated one, the
    truncated one)."""
    root = tmp_path_factory.mktemp("pretrain_bad")
    train, val = root / "train", root / "val"
    train.mkdir()
    val.mkdir()
    for index in range(8):
        write_video(train / f"clip_{index}.mp4", _clip(index))
    for index in range(3):
        write_video(val / f"held_{index}.mp4", _clip(100 + index))
    data = (val / "held_0.mp4").read_bytes()
    broken = val / "held_1_truncated.mp4"
    broken.write_bytes(data[: len(data) // 3])
    return train, val, broken


def _config(train: Path, val: Path, *overrides: str):
    settings = [f"data.source={train}", f"data.val={val}", *SETTINGS, *overrides]
    return load_config("videomae_tiny_pretrain", settings)


class ValidationVideos(L.Callback):
    """The dataset indices of the videos each validation epoch scored."""

    def __init__(self) -> None:
        self.epochs: list[list[int]] = []

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs.append([])

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, *rest
    ) -> None:
        if batch["index"] is not None:
            self.epochs[-1].extend(batch["index"].tolist())


def test_pretraining_validation_leaves_an_unreadable_video_out(folders, tmp_path):
    train, val, broken = folders
    run = RunPaths(tmp_path / "loader")
    data = UnlabeledDataModule(_config(train, val), run)
    data.setup("fit")
    good = sorted(i for i, r in enumerate(data.val_records) if r.path != broken)
    assert len(data.val_records) == 4 and len(good) == 3
    with pytest.warns(BadVideoWarning, match=broken.name):  # once: then it is known bad
        first = list(data.val_dataloader()[0])
    for batches in (first, list(data.val_dataloader()[0])):
        scored = [i for batch in batches for i in batch["index"].tolist()]
        assert sorted(scored) == good  # each real video once, nothing in the broken one's place
    assert run.bad_files.read_text().count(broken.name) == 1


def test_pretraining_run_validates_on_real_videos_only(folders, tmp_path):
    # one video per validation batch: the broken one's batch is empty and must be skipped
    train, val, broken = folders
    seen = ValidationVideos()
    config = _config(train, val, "train.epochs=2", "eval.batch_size=1")
    with pytest.warns(BadVideoWarning, match=broken.name):
        result = pretrain(config, tmp_path / "run", progress=False, callbacks=[seen])
    rows = read_metrics(result.run.metrics)
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(math.isfinite(r["val_loss"]) for r in rows)
    assert len(seen.epochs) == 2
    # the 3 real held-out videos once each per epoch, no stand-in for the broken one
    assert all(len(epoch) == 3 == len(set(epoch)) for epoch in seen.epochs), seen.epochs
    assert result.run.bad_files.read_text().count(broken.name) == 1
