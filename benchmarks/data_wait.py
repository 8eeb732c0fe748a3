"""Is the data-wait readout right? Train on a deliberately slow loader with a known cost.

    python benchmarks/data_wait.py [--steps 30]

Each sample costs ``load`` ms in the Dataset (a sleep) and each training step ``compute`` ms
(a sleep in ``training_step``); batches of 4. With the loader in the main process every step
waits ``4 * load`` ms, so the true data-wait share is ``4 load / (4 load + compute)``; with
``W`` workers (prefetching 2 batches each) the loader delivers a batch every ``4 load / W`` ms,
and the loop waits ``max(0, 4 load / W - compute)`` per step in the steady state; the first
batch of an epoch is waited for in full (``4 load``, plus the workers' start-up). The table
prints that expected share beside what :class:`~motionfit.train.timing.DataWaitTimer` logged
as ``train/data_wait`` (the value in the progress bar and in ``metrics.csv``), and whether it
printed its advice line (above 20%). The readout counts everything between two steps as
waiting, the loop's own bookkeeping (a few ms per step on a busy CPU) included: the row with a
free loader shows that floor.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from motionfit.train.timing import ADVICE_THRESHOLD, DATA_WAIT_METRIC, DataWaitTimer

BATCH = 4
CASES = (  # (load ms per sample, compute ms per step, workers)
    (25, 100, 0),
    (5, 100, 0),
    (0, 100, 0),
    (40, 40, 2),
    (25, 150, 2),
)


class SlowDataset(Dataset):
    """Samples that take ``load_ms`` each to "decode"."""

    def __init__(self, size: int, load_ms: float) -> None:
        self.size, self.load_ms = size, load_ms

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        time.sleep(self.load_ms / 1000)
        return torch.full((8,), float(index))


class SlowModel(L.LightningModule):
    """A linear layer whose step also takes ``compute_ms``."""

    def __init__(self, compute_ms: float) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)
        self.compute_ms = compute_ms

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        time.sleep(self.compute_ms / 1000)
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1e-3)


def expected_share(load_ms: float, compute_ms: float, workers: int, steps: int) -> float:
    """The data-wait share of one epoch of the case: the first batch is loaded by one process
    while the loop waits; later ones as in the module docstring (worker start-up not counted)."""
    per_batch = BATCH * load_ms / max(workers, 1)
    steady = per_batch if workers == 0 else max(0.0, per_batch - compute_ms)
    wait = BATCH * load_ms + (steps - 1) * steady
    return wait / (wait + steps * compute_ms)


def measure(load_ms: float, compute_ms: float, workers: int, steps: int) -> tuple[float, bool]:
    """(logged data-wait share, whether the advice was printed) for one training epoch."""
    loader = DataLoader(
        SlowDataset(steps * BATCH, load_ms),
        batch_size=BATCH,
        num_workers=workers,
        persistent_workers=False,
    )
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[DataWaitTimer()],
    )
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        trainer.fit(SlowModel(compute_ms), loader)
    return float(trainer.callback_metrics[DATA_WAIT_METRIC]), "waited for data" in (
        printed.getvalue()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    print(
        "| load ms/sample | compute ms/step | workers | expected data wait | "
        "logged train/data_wait | advice printed |"
    )
    print("|---|---|---|---|---|---|")
    for load_ms, compute_ms, workers in CASES:
        share, advised = measure(load_ms, compute_ms, workers, args.steps)
        expected = expected_share(load_ms, compute_ms, workers, args.steps)
        should = "yes" if expected > ADVICE_THRESHOLD else "no"
        print(
            f"| {load_ms} | {compute_ms} | {workers} | {expected:.0%} | {share:.0%} | "
            f"{'yes' if advised else 'no'} (expected {should}) |"
        )


if __name__ == "__main__":
    main()
