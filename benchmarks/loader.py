"""Loader throughput: motionfit's training pipeline against the classic whole-video baseline
and the decode-the-window floor, on the same clips, in one run.

    python benchmarks/loader.py [--clips 24] [--workers 0 1 2] [--source CLIP.mp4]

Sources: ~10 s of real footage (a clip from ../shared/data/real-videos) re-encoded to 320x240
h264 (mp4, B-frames) and mpeg4 (avi), copied once per clip so every clip is read from a file
the worker has not indexed yet (first-epoch cost, probe included). Clips: 16 frames, stride 4,
224 crop.

- baseline: decode the whole video to RGB with PyAV, take the clip's frames, then float
  ``[C, T, H, W]`` RandomResizedCrop, flip and Normalize (torchvision's ``_transforms_video``).
- floor: seek and decode the clip's window to RGB, nothing else (no index, no transform).
  Both convert with ``threads=1``: PyAV's default (0 = a thread pool per conversion) is several
  times slower on 2 busy cores and would flatter motionfit.
- motionfit: ``VideoClipDataset`` in train mode (probe, frame-exact window decode with the
  short-side resize, RandomResizedCrop, flip, normalize to float ``[C, T, 224, 224]``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from motionfit.config import AugmentConfig, SamplingConfig
from motionfit.data.dataset import VideoClipDataset, worker_init_fn
from motionfit.data.decode import probe, read_clip
from motionfit.data.encode import write_video
from motionfit.data.records import VideoRecord
from motionfit.data.sampling import TrainSampler
from motionfit.data.transforms import TrainTransform

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # deprecated module, imported on purpose for the baseline
    from torchvision.transforms import _transforms_video as classic

REAL_CLIP = Path(__file__).resolve().parents[2] / "shared/data/real-videos/h264_340x256_30fps.mp4"
SAMPLING = SamplingConfig(num_frames=16, stride=4, train_strides=[4], jitter_prob=0.0)
AUGMENT = AugmentConfig(crop_size=224)
SEED = 0


def make_sources(source: Path, folder: Path, copies: int) -> tuple[dict[str, list[Path]], int]:
    """Re-encode ``source`` to 320x240 h264 mp4 and mpeg4 avi, ``copies`` files of each; also
    returns the frame count."""
    with av.open(str(source)) as container:
        frames = np.stack(
            [f.to_ndarray(format="rgb24", width=320, height=240) for f in container.decode(video=0)]
        )
    files = {}
    for name, codec, gop in (("h264 mp4", "h264", 30), ("mpeg4 avi", "mpeg4", 12)):
        first = write_video(
            folder / f"{codec}_0.{name[-3:]}", frames, fps=30, codec=codec, gop=gop, crf=23
        )
        files[name] = [first] + [
            Path(shutil.copy(first, first.with_stem(f"{codec}_{i}"))) for i in range(1, copies)
        ]
    return files, len(frames)


class ClipSource(Dataset):
    """The clip each item decodes, drawn by motionfit's training sampler (same distribution as
    the dataset's clips: 16 frames, stride 4, random start)."""

    def __init__(self, paths: list[Path], num_frames: int, fps: float) -> None:
        self.paths, self.num_frames, self.fps = paths, num_frames, fps
        self.sampler = TrainSampler.from_config(SAMPLING)

    def __len__(self) -> int:
        return len(self.paths)

    def clip(self, index: int) -> list[int]:
        rng = np.random.default_rng([SEED, index])
        return list(self.sampler(self.num_frames, self.fps, rng).indices)


class Baseline(ClipSource):
    """Whole video decoded to RGB, then float transforms on ``[C, T, H, W]``."""

    def __init__(self, paths: list[Path], num_frames: int, fps: float) -> None:
        super().__init__(paths, num_frames, fps)
        self.crop = classic.RandomResizedCropVideo(AUGMENT.crop_size, scale=AUGMENT.scale)
        self.flip = classic.RandomHorizontalFlipVideo()
        self.normalize = classic.NormalizeVideo(AUGMENT.mean, AUGMENT.std)

    def __getitem__(self, index: int) -> torch.Tensor:
        with av.open(str(self.paths[index])) as container:
            frames = [f.to_ndarray(format="rgb24", threads=1) for f in container.decode(video=0)]
        clip = torch.from_numpy(np.stack([frames[i] for i in self.clip(index)]))
        video = clip.permute(3, 0, 1, 2).float() / 255.0  # [C, T, H, W]
        return self.normalize(self.flip(self.crop(video)))


class Floor(ClipSource):
    """Seek to the keyframe before the clip, decode to its last frame, RGB for its frames."""

    def __getitem__(self, index: int) -> torch.Tensor:
        wanted = self.clip(index)
        rows: dict[int, list[int]] = {}
        for row, frame_index in enumerate(wanted):
            rows.setdefault(frame_index, []).append(row)
        out = np.empty((len(wanted), 240, 320, 3), dtype=np.uint8)
        with av.open(str(self.paths[index])) as container:
            stream = container.streams.video[0]
            container.seek(int(min(wanted) / self.fps / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                number = round(frame.time * self.fps)
                if number in rows:
                    out[rows.pop(number)] = frame.to_ndarray(format="rgb24", threads=1)
                if not rows or number >= max(wanted):
                    break
        return torch.from_numpy(out)


def clips_per_second(dataset: Dataset, workers: int, batch_size: int = 4) -> float:
    """Clips per second through a DataLoader, timed from the first batch to the last."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        worker_init_fn=worker_init_fn if workers else None,
        prefetch_factor=2 if workers else None,
    )
    batches = iter(loader)
    next(batches)
    start, clips = time.perf_counter(), 0
    for batch in batches:
        clips += len(batch["video"] if isinstance(batch, dict) else batch)
    return clips / (time.perf_counter() - start)


STAGES = (
    "probe (new file)",
    "decode window",
    f"decode window, short side {AUGMENT.resolved_short_side()}",
    "transform (crop, flip, normalize)",
)


def stage_milliseconds(paths: list[Path], num_frames: int) -> list[float]:
    """Median milliseconds of each stage of one motionfit training clip, in this process:
    probing a file not seen before, the window decode without and with the short-side resize,
    and the spatial transform."""
    transform, generator = TrainTransform(AUGMENT), torch.Generator().manual_seed(SEED)
    source = ClipSource(paths, num_frames, 30.0)
    short_side = AUGMENT.resolved_short_side()
    times: list[list[float]] = [[] for _ in STAGES]

    def timed(stage: int, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = work(*args, **kwargs)
        times[stage].append(time.perf_counter() - start)
        return result

    for i, path in enumerate(paths):
        indices = source.clip(i)
        timed(0, probe, path)
        timed(1, read_clip, path, indices)
        clip = timed(2, read_clip, path, indices, short_side=short_side)
        timed(3, transform, clip, generator)
    return [1000 * float(np.median(stage_times)) for stage_times in times]


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=24, help="clips per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--source", type=Path, default=REAL_CLIP, help="footage to re-encode")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per cell; the fastest counts (less noise)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # the main process is the single worker when --workers 0
    with tempfile.TemporaryDirectory() as folder:
        per_run = args.clips + 4  # the first batch (4 clips) warms up and is not timed
        runs = len(args.workers) * args.repeats + 1  # + 1: files for the stage breakdown
        sources, num_frames = make_sources(args.source, Path(folder), per_run * runs)
        print(
            "| source | loader | baseline clips/s | floor clips/s | motionfit clips/s "
            "| motionfit / baseline | floor / motionfit |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, paths in sources.items():
            unused = iter(range(runs))  # every run reads files no worker has indexed
            for workers in args.workers:
                rates = dict.fromkeys(("baseline", "floor", "motionfit"), 0.0)
                for _ in range(args.repeats):
                    run = next(unused)
                    files = paths[run * per_run : (run + 1) * per_run]
                    records = [VideoRecord(path, 0) for path in files]
                    datasets = {
                        "baseline": Baseline(files, num_frames, 30.0),
                        "floor": Floor(files, num_frames, 30.0),
                        "motionfit": VideoClipDataset(
                            records, mode="train", sampling=SAMPLING, augment=AUGMENT, seed=SEED
                        ),
                    }
                    for key, dataset in datasets.items():
                        rates[key] = max(rates[key], clips_per_second(dataset, workers))
                loader = "main process" if workers == 0 else f"{workers} worker(s)"
                print(
                    f"| {name} | {loader} | {rates['baseline']:.1f} | {rates['floor']:.1f} "
                    f"| {rates['motionfit']:.1f} | {rates['motionfit'] / rates['baseline']:.1f}x "
                    f"| {rates['floor'] / rates['motionfit']:.2f}x |",
                    flush=True,
                )
        print("\nWhere a motionfit clip's time goes (main process, median ms):\n")
        print("| source | " + " | ".join(STAGES) + " |")
        print("|---|" + "---|" * len(STAGES))
        for name, paths in sources.items():
            stages = stage_milliseconds(paths[-per_run:], num_frames)
            print(f"| {name} | " + " | ".join(f"{ms:.1f}" for ms in stages) + " |")


if __name__ == "__main__":
    main()
