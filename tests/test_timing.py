"""The data-wait readout: a slow loader shows up as waiting, a slow step as computing; the share
reaches the progress bar metrics and metrics.csv, and the advice line is printed once."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from motionfit.run import read_metrics
from motionfit.train.callbacks import EpochMetricsWriter
from motionfit.train.timing import DATA_WAIT_METRIC, DataWaitTimer, advice


class Sleepy(Dataset):
    def __init__(self, load_s: float) -> None:
        self.load_s = load_s

    def __len__(self) -> int:
        return 12

    def __getitem__(self, index: int) -> torch.Tensor:
        time.sleep(self.load_s)
        return torch.ones(4)


class Model(L.LightningModule):
    def __init__(self, compute_s: float) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.compute_s = compute_s

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        time.sleep(self.compute_s)
        return self.layer(batch).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(load_s: float, compute_s: float, tmp_path: Path, epochs: int = 1) -> L.Trainer:
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[DataWaitTimer(), EpochMetricsWriter(tmp_path / "metrics.csv", None)],
    )
    trainer.fit(Model(compute_s), DataLoader(Sleepy(load_s), batch_size=2))
    return trainer


def test_slow_loader_is_reported_with_advice_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trainer = fit(load_s=0.03, compute_s=0.0, tmp_path=tmp_path, epochs=2)
    share = float(trainer.callback_metrics[DATA_WAIT_METRIC])
    assert share > 0.6
    err = capsys.readouterr().err
    assert err.count("training waited for data") == 1
    assert "data.num_workers (now 0)" in err and "motionfit data prepare" in err
    rows = read_metrics(tmp_path / "metrics.csv")
    assert len(rows) == 2 and all(row["data_wait"] > 0.6 for row in rows)


def test_slow_step_is_compute_and_gives_no_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trainer = fit(load_s=0.0, compute_s=0.06, tmp_path=tmp_path)
    assert float(trainer.callback_metrics[DATA_WAIT_METRIC]) < 0.2
    assert "waited for data" not in capsys.readouterr().err


def test_advice_names_the_three_remedies() -> None:
    line = advice(0.42, 2)
    assert line.startswith("training waited for data 42%") and "\n" not in line
    assert "data.num_workers (now 2)" in line and "augment.short_side" in line


def test_a_run_resumed_mid_epoch_starts_its_clock_at_the_start_of_training() -> None:
    # issue 22, 10: Lightning calls no on_train_epoch_start for the epoch a resumed run
    # continues, and the wait was counted from 0 (99.8% waiting, and the advice line)
    timer = DataWaitTimer()
    time.sleep(0.2)  # the process started a while before training (imports, data, model)
    timer.on_train_start(None, None)  # type: ignore[arg-type]
    for _ in range(3):
        timer.on_train_batch_start(None, None, None, 0)  # type: ignore[arg-type]
        time.sleep(0.02)  # computing
        timer.on_train_batch_end(None, _Logged(), None, None, 0)  # type: ignore[arg-type]
    assert timer.share() < 0.5, timer.share()


class _Logged:
    def log(self, *args: object, **kwargs: object) -> None:
        pass
