"""Imbalanced data: the warning, class-weighted loss and class-balanced sampling, on real
encoded videos and the tiny motion CNN."""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from run_fixtures import make_videos, run_cli, tiny_config

from motionfit.errors import ConfigError
from motionfit.run import RunPaths
from motionfit.train.balance import ImbalanceWarning, read_class_weights
from motionfit.train.datamodule import VideoDataModule

KEEP = {"move_left": 12, "move_right": 12, "move_up": 2}  # 6x: above the 5x warning ratio


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes of real h264 clips with 12, 12 and 2 videos."""
    root = make_videos(tmp_path_factory.mktemp("imbalanced"), classes=3, per_class=12)
    for name, keep in KEEP.items():
        for extra in sorted((root / name).glob("*.mp4"))[keep:]:
            extra.unlink()
    return root


def _datamodule(data: Path, tmp_path: Path, *sets: str) -> VideoDataModule:
    config = tiny_config(data, extra=["data.val=" + str(data), "train.batch_size=4", *sets])
    return VideoDataModule(config, RunPaths(tmp_path / "run"))


def test_imbalance_warns_unless_compensated(imbalanced: Path, tmp_path: Path) -> None:
    with pytest.warns(ImbalanceWarning, match="'move_left' has 12 training videos, 6x the 2"):
        _datamodule(imbalanced, tmp_path).setup("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImbalanceWarning)
        _datamodule(imbalanced, tmp_path, "train.class_weights=balanced").setup("fit")


def test_balanced_weights_and_a_weights_file(imbalanced: Path, tmp_path: Path) -> None:
    datamodule = _datamodule(imbalanced, tmp_path, "train.class_weights=balanced")
    datamodule.prepare_records()
    weights = datamodule.loss_weights()
    assert weights.tolist() == pytest.approx([26 / (3 * 12), 26 / (3 * 12), 26 / (3 * 2)])
    assert _datamodule(imbalanced, tmp_path).loss_weights() is None

    file = tmp_path / "weights.txt"
    file.write_text("# class weight\nmove_left 1\nmove_right, 1.5\nmove_up\t4\n")
    datamodule = _datamodule(imbalanced, tmp_path, f"train.class_weights={file}")
    assert datamodule.loss_weights().tolist() == [1.0, 1.5, 4.0]
    file.write_text("move_left 1\nmove_right 1\n")
    with pytest.raises(ConfigError, match=r"no weight for \['move_up'\]"):
        read_class_weights(file, list(KEEP))
    with pytest.raises(ConfigError, match="not none, balanced or an existing file"):
        read_class_weights(tmp_path / "missing.txt", list(KEEP))


def test_balanced_sampler_draws_classes_evenly_and_reproducibly(
    imbalanced: Path, tmp_path: Path
) -> None:
    datamodule = _datamodule(imbalanced, tmp_path, "train.balanced_sampler=true")
    datamodule.setup("fit")
    sampler = datamodule.train_dataloader().sampler
    labels = [r.label for r in datamodule.train_records]
    drawn = Counter()
    first = list(sampler)
    for epoch in range(40):
        sampler.set_epoch(epoch)
        drawn.update(labels[i] for i in sampler)
    assert len(first) == len(labels)
    assert max(drawn.values()) < 1.3 * min(drawn.values())  # ~equal, though 12:12:2 on disk
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_weighted_loss_trains_and_uses_the_weights(imbalanced: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sets = ["train.class_weights=balanced", "train.balanced_sampler=true", "train.epochs=1"]
    args = ["train", "--config", "demo", "--data", str(imbalanced), "--out", str(out), "-q"]
    extra = ["model.name=motioncnn_tiny", "sampling.num_frames=8", "data.num_workers=0"]
    assert run_cli([*args, *(f"--set={s}" for s in [*extra, "train.batch_size=4", *sets])]) == 0
    assert (out / "model.safetensors").is_file()
    rows = list(csv.DictReader((out / "class_balance.csv").open()))
    assert [r["class"] for r in rows] == list(KEEP)
    assert [int(r["train_videos"]) for r in rows] == [8, 8, 1]  # the 70% training split
    assert float(rows[2]["loss_weight"]) > float(rows[0]["loss_weight"])  # the rare class
    assert {r["draw_share"] for r in rows} == {"0.3333"}  # balanced draws

    from motionfit.train.task import VideoClassificationTask

    datamodule = _datamodule(imbalanced, tmp_path, *sets[:1], "augment.mix.p=0")
    datamodule.setup("fit")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 32 * 32, 3))
    task = VideoClassificationTask(datamodule.config, model, 3)
    task.class_weight = datamodule.loss_weights()
    batch = next(iter(datamodule.train_dataloader()))
    loss, logits, targets = task.compute_loss(batch, torch.Generator().manual_seed(0))
    plain = F.cross_entropy(logits, targets, label_smoothing=0.1)
    weighted = F.cross_entropy(logits, targets, weight=task.class_weight, label_smoothing=0.1)
    assert loss.item() == pytest.approx(weighted.item()) and loss.item() != plain.item()


def test_a_bad_class_weights_file_fails_before_anything_is_written(
    imbalanced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", "--config", "demo", "--data", str(imbalanced), "--out", str(out), "-q"]
    assert run_cli([*args, "--set", "train.class_weights=no_such_file.txt"]) == 2
    assert "not none, balanced or an existing file" in capsys.readouterr().err
    assert not out.exists()
