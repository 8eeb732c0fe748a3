"""Where training step time goes: waiting for the next batch versus computing on it.

:class:`DataWaitTimer` splits the wall time of every training step in two: from the end of the
previous step (or the start of the epoch) to the start of this one, the loop waits for the
DataLoader to hand over the next batch and for its copy to the device; from the start of the
step to its end, the model computes (forward, backward, optimizer, logging). The share of the
epoch spent waiting is logged as ``train/data_wait`` on every step (progress bar, TensorBoard,
and the epoch's value in ``metrics.csv``: the share over the whole epoch so far). Validation
time is not counted. On a GPU, kernels run asynchronously: time the device still spends on
step ``n`` while the loop already waits for batch ``n + 1`` counts as waiting only if the loader
is slower than the device, which is what the readout is for.
"""

from __future__ import annotations

import sys
import time

import lightning as L

DATA_WAIT_METRIC = "train/data_wait"
"""The logged metric: fraction (0-1) of the epoch's step time spent waiting for data."""
ADVICE_THRESHOLD = 0.2
"""Above this data-wait share, :class:`DataWaitTimer` prints one line of advice."""


class DataWaitTimer(L.Callback):
    """Measure and log the share of training step time spent waiting for data; print one line
    of advice (once per run) when an epoch waits more than ``threshold`` of its time."""

    def __init__(self, threshold: float = ADVICE_THRESHOLD) -> None:
        self.threshold = threshold
        self.wait = 0.0
        """Seconds waited for data in this epoch so far."""
        self.compute = 0.0
        """Seconds computing in this epoch so far."""
        self._mark = 0.0
        self._paused = 0.0
        self._advised = False

    def share(self) -> float:
        """Fraction of this epoch's step time spent waiting for data (0 before any step)."""
        total = self.wait + self.compute
        return self.wait / total if total > 0 else 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the clocks: a run resumed mid-epoch gets no ``on_train_epoch_start`` for the
        epoch it continues (it would count the time since the process started as waiting)."""
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the epoch's clocks."""
        self.wait = self.compute = 0.0
        self._mark = time.perf_counter()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        """The batch is here: the time since the last step ended was spent waiting for it."""
        now = time.perf_counter()
        self.wait += now - self._mark
        self._mark = now

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *step: object
    ) -> None:
        """The step is done: count its compute time and log the epoch's data-wait share
        (``step``: the step's outputs, batch and index, unused)."""
        now = time.perf_counter()
        self.compute += now - self._mark
        self._mark = now
        pl_module.log(DATA_WAIT_METRIC, self.share(), on_step=True, on_epoch=False, prog_bar=True)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Pause the clock: validation inside an epoch is neither waiting nor training."""
        self._paused = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Resume the clock after validation."""
        self._mark += time.perf_counter() - self._paused

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Print the advice line the first time an epoch waits too long for data."""
        if self._advised or not trainer.is_global_zero or self.share() <= self.threshold:
            return
        self._advised = True
        loader = trainer.train_dataloader
        workers = getattr(loader, "num_workers", None)
        print(advice(self.share(), workers), file=sys.stderr, flush=True)


def advice(share: float, num_workers: int | None) -> str:
    """The one line printed when training waits ``share`` of its step time for data."""
    now = f" (now {num_workers})" if num_workers is not None else ""
    return (
        f"training waited for data {share:.0%} of its step time: raise data.num_workers{now}, "
        "prepare the videos once with `motionfit data prepare`, or decode smaller frames "
        "(augment.short_side)"
    )
