"""The machine a plan is for, and what one training epoch of a planned config costs on it.

A plan for this machine's CPU is timed here: one optimizer step of the planned model on a batch
of the planned clips, and the decoding of a few of the data's own clips, as a training epoch
spends them (loader workers decode while the model trains when there are cores for both).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from motionfit.config import Config
from motionfit.data.records import VideoRecord

TIMED_STEPS = 3  # optimizer steps timed (after one warm-up step)
TIMED_CLIPS = 6  # training clips decoded and transformed to time the data


@dataclass(frozen=True)
class Machine:
    """Where the run will train: CPU cores, and the GPU (None: no GPU) and how many of them."""

    cpus: int
    gpu_name: str | None
    gpu_memory_gb: float | None
    gpus: int = 1

    @classmethod
    def here(
        cls, gpu_memory_gb: float | None = None, cpu: bool = False, gpus: int | None = None
    ) -> Machine:
        """This machine; ``gpu_memory_gb`` (and ``gpus``, default 1) plans for GPUs of that
        size (for a machine other than this one), ``cpu`` for this machine's CPU even when it
        has GPUs; else this machine's GPUs (``gpus`` of them, default all)."""
        cpus = os.cpu_count() or 1
        if cpu:
            return cls(cpus, None, None)
        if gpu_memory_gb is not None:
            return cls(cpus, "a GPU (--gpu-memory)", gpu_memory_gb, gpus or 1)
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            count = gpus or torch.cuda.device_count()
            return cls(cpus, props.name, round(props.total_memory / 2**30, 1), count)
        return cls(cpus, None, None)

    def describe(self) -> str:
        """One line for the plan's header."""
        gpu = f"{self.gpu_name}, {self.gpu_memory_gb:g} GB" if self.gpu_name else "no GPU"
        if self.gpu_name and self.gpus > 1:
            gpu = f"{self.gpus} x {gpu}"
        return f"{self.cpus} CPU cores, {gpu}"


def measure_epoch_seconds(
    config: Config, records: Sequence[VideoRecord], steps_per_epoch: int, val_videos: int
) -> float:
    """Seconds one epoch of ``config`` takes on this machine's CPU: ``steps_per_epoch``
    optimizer steps fed by loader workers, then validation of ``val_videos`` videos and the
    clean-train subset, each at ``eval.clips`` views (timed on ``records``' own clips)."""
    from motionfit.data.dataset import VideoClipDataset
    from motionfit.data.transforms import VideoNormalize
    from motionfit.models.build import build_model_from_config

    batch = config.train.batch_size
    model = build_model_from_config(config, num_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    video = torch.rand(batch, 3, config.sampling.num_frames, *(2 * [config.augment.crop_size]))
    labels = torch.zeros(batch, dtype=torch.long)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(video), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    model_step = min(_seconds(step) for _ in range(TIMED_STEPS))  # the least disturbed
    model.eval()
    with torch.inference_mode():
        started = time.perf_counter()
        model(video)
        forward_per_clip = (time.perf_counter() - started) / batch

    sample = [records[i * len(records) // TIMED_CLIPS] for i in range(TIMED_CLIPS)]
    dataset = VideoClipDataset(
        sample, mode="train", sampling=config.sampling, augment=config.augment
    )
    normalize = VideoNormalize.from_config(config.augment)
    started = time.perf_counter()
    for index in range(len(sample)):
        normalize(dataset[index]["video"][None])
    clip_seconds = (time.perf_counter() - started) / len(sample)

    workers = config.data.num_workers
    cores = os.cpu_count() or 1
    data_per_step = batch * clip_seconds / max(1, workers)
    overlapped = workers > 0 and cores > workers
    train = steps_per_epoch * (
        max(model_step, data_per_step) if overlapped else model_step + data_per_step
    )
    views = config.eval.clips * config.eval.crops
    scored = val_videos + config.train.clean_train_videos
    validation = scored * views * (clip_seconds + forward_per_clip)
    return train + validation


def _seconds(work: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``work``."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started
