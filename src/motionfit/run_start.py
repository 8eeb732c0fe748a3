"""Starting a training or pretraining run: the checks before anything is written, then the
first writes.

``open_run`` checks the run directory (and seeds the model's initialization); the caller then
reads the data and builds the model and Trainer, all of which may still fail without leaving a
file behind; ``start_run`` then claims the folder and writes ``config.yaml`` and the records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from motionfit.config import Config, dump_config
from motionfit.data.dataset import resolve_decoder
from motionfit.resources import check_training_memory
from motionfit.run import RunPaths, RunStart, check_run_dir, claim_run_dir, data_inputs


class RunDataModule(L.LightningDataModule, ABC):
    """The data module of a run: Lightning's, plus the records it saves when the run starts."""

    @abstractmethod
    def save_records(self) -> None:
        """Write the run's labels and split (rank 0)."""


def is_rank_zero() -> bool:
    """True in the process of global rank 0, as Lightning knows it (the only process of a
    single-device run)."""
    return rank_zero_only.rank == 0  # type: ignore[attr-defined]  # set by Lightning at import


def open_run(
    config: Config,
    out: str | Path,
    kind: str,
    *,
    resume: bool,
    force: bool,
    inputs: Sequence[str | None] | None = None,
) -> tuple[RunPaths, RunStart]:
    """The run directory ``out`` of a ``kind`` run (``train``, ``pretrain``) and how it starts,
    checked by :func:`~motionfit.run.check_run_dir` against the run's ``inputs`` (default: its
    data), with the folder's lock taken; seeds torch with ``train.seed``, so that every rank
    initializes the model alike. A batch this machine cannot hold
    (:func:`~motionfit.resources.check_training_memory`) or a ``data.decoder`` it cannot use is
    a ConfigError. Writes nothing."""
    check_training_memory(config)
    resolve_decoder(config.data.decoder)  # an unknown or unusable data.decoder fails here
    run = RunPaths(Path(out))
    checked = data_inputs(config) if inputs is None else inputs
    start = check_run_dir(run, kind, resume=resume, force=force, inputs=checked)
    torch.manual_seed(config.train.seed)
    return run, start


def start_run(
    run: RunPaths, kind: str, start: RunStart, config: Config, records: RunDataModule
) -> None:
    """The first writes of a run, once its data, settings, model and Trainer are checked: claim
    the folder and write ``config.yaml`` (rank 0), then the data module's records."""
    if is_rank_zero():
        claim_run_dir(run, kind, start)
        dump_config(config, run.config)
    records.save_records()
