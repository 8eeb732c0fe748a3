"""Loader throughput: motionfit's training pipeline against the classic whole-video baseline
and the decode-the-window floor, on the same clips, in one run.

    python benchmarks/loader.py [--clips 32] [--workers 0 1 2] [--source CLIP.mp4]
    python benchmarks/loader.py --decode-sizes   # the evidence for the decode-size rule

Sources: ~10 s of real footage (a clip from ../shared/data/real-videos) re-encoded to 320x240
h264 (mp4, B-frames) and mpeg4 (avi), copied once per clip so every clip is read from a file
the worker has not indexed yet (first-epoch cost, probe included). Clips: 16 frames, stride 4,
224 crop. Batches of 4 through a DataLoader (``--workers``; 0 = in the main process).

- baseline: decode the whole video to RGB with PyAV, take the clip's frames, then float
  ``[C, T, H, W]`` RandomResizedCrop, flip and Normalize (torchvision's ``_transforms_video``).
- floor: seek and decode the clip's window to RGB, nothing else (no index, no transform).
  Both convert with ``threads=1``: PyAV's default (0 = a thread pool per conversion) is several
  times slower on 2 busy cores and would flatter motionfit.
- motionfit: ``VideoClipDataset`` in train mode: probe (index a new file), frame-exact window
  decode at native size, RandomResizedCrop 224 and flip on uint8, uint8 ``[C, T, 224, 224]``
  batched by ``collate_clips``. Normalization is not in the loader: ``VideoNormalize`` runs on
  the batch in the training step, on the training device; its CPU cost is printed separately.
- motionfit, indexed: the same, in a second epoch over the same files (index cached in each
  worker, as in every epoch after the first while the files fit ``PROBE_CACHE_SIZE``).

``--decode-sizes`` instead times one training clip (window decode + transform) from h264
sources of growing size, decoded at native size and downscaled by the decoder to short side
256 (``transforms.decode_short_side`` picks between them).
"""

from __future__ import annotations

import argparse
import os
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
from motionfit.data.dataset import VideoClipDataset, collate_clips, worker_init_fn
from motionfit.data.decode import probe, read_clip
from motionfit.data.encode import write_video
from motionfit.data.records import VideoRecord
from motionfit.data.sampling import TrainSampler
from motionfit.data.transforms import TrainTransform, VideoNormalize, decode_short_side

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # deprecated module, imported on purpose for the baseline
    from torchvision.transforms import _transforms_video as classic

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared/data/real-videos"
REAL_CLIP = REAL_VIDEOS / "h264_340x256_30fps.mp4"
FULL_HD_CLIP = REAL_VIDEOS / "skeleton_demo_1920x1080_28fps.mp4"
DECODE_SIZES = (
    (320, 240),
    (426, 320),
    (512, 384),
    (640, 480),
    (854, 480),
    (1280, 720),
    (1920, 1080),
)
SAMPLING = SamplingConfig(num_frames=16, stride=4, train_strides=[4], jitter_prob=0.0)
AUGMENT = AugmentConfig(crop_size=224)
SEED = 0
BATCH = 4


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


def throughput(
    dataset: Dataset, workers: int, collate: Callable[..., Any] | None = None, epochs: int = 1
) -> tuple[float, float]:
    """(clips per second, CPU milliseconds per clip of this process) through a DataLoader,
    timed from the first batch to the last of the last of ``epochs`` epochs (earlier epochs,
    with persistent workers, warm the caches). The CPU time is the whole pipeline's only with
    ``workers=0``; unlike the wall clock it does not count time the other jobs on the machine
    take from it."""
    loader = DataLoader(
        dataset,
        batch_size=BATCH,
        num_workers=workers,
        collate_fn=collate,
        worker_init_fn=worker_init_fn if workers else None,
        prefetch_factor=2 if workers else None,
        persistent_workers=workers > 0 and epochs > 1,
    )
    for _ in range(epochs - 1):
        for _ in loader:
            pass
    batches = iter(loader)
    next(batches)
    start, cpu_start, clips = time.perf_counter(), time.process_time(), 0
    for batch in batches:
        clips += len(batch["video"] if isinstance(batch, dict) else batch)
    cpu = time.process_time() - cpu_start
    return clips / (time.perf_counter() - start), 1000 * cpu / clips


STAGES = (
    "probe (new file)",
    "decode window (native, used)",
    f"decode window, short side {AUGMENT.resolved_short_side()} (before)",
    "transform (crop, flip; uint8)",
    "collate_clips (per clip)",
)


def stage_milliseconds(paths: list[Path], num_frames: int) -> list[float]:
    """Median CPU milliseconds of each stage of one motionfit training clip, in this process:
    probing a file not seen before, the window decode at native size (what the dataset does)
    and with the former short-side resize, the spatial transform and batching."""
    transform, generator = TrainTransform(AUGMENT), torch.Generator().manual_seed(SEED)
    source = ClipSource(paths, num_frames, 30.0)
    short_side = AUGMENT.resolved_short_side()
    times: list[list[float]] = [[] for _ in STAGES]

    def timed(stage: int, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        result = work(*args, **kwargs)
        times[stage].append(time.process_time() - start)
        return result

    for i, path in enumerate(paths):
        indices = source.clip(i)
        timed(0, probe, path)
        clip = timed(1, read_clip, path, indices)
        timed(2, read_clip, path, indices, short_side=short_side)
        video, _ = timed(3, transform, clip, generator)
        items = [{"video": video, "label": 0, "index": i}] * BATCH
        start = time.process_time()
        collate_clips(items)
        times[4].append((time.process_time() - start) / BATCH)
    return [1000 * float(np.median(stage_times)) for stage_times in times]


def normalize_milliseconds(repeats: int = 10) -> float:
    """Median CPU milliseconds of ``VideoNormalize`` on one collated uint8 batch (``BATCH`` clips of
    16x224x224) on this CPU, one thread: what the training step pays on a CPU device."""
    clip = torch.randint(0, 256, (16, 224, 224, 3), dtype=torch.uint8).permute(3, 0, 1, 2)
    batch = collate_clips([{"video": clip, "label": 0, "index": 0}] * BATCH)["video"]
    normalize = VideoNormalize.from_config(AUGMENT)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        normalize(batch)
        times.append(time.process_time() - start)
    return 1000 * float(np.median(times))


def measure(key: str, files: list[Path], num_frames: int, workers: int) -> tuple[float, float]:
    """:func:`throughput` of one loader (``baseline``, ``floor``, ``motionfit`` or ``indexed``)
    on ``files``."""
    if key == "baseline":
        return throughput(Baseline(files, num_frames, 30.0), workers)
    if key == "floor":
        return throughput(Floor(files, num_frames, 30.0), workers)
    records = [VideoRecord(path, 0) for path in files]
    dataset = VideoClipDataset(records, mode="train", sampling=SAMPLING, augment=AUGMENT, seed=SEED)
    return throughput(dataset, workers, collate_clips, epochs=2 if key == "indexed" else 1)


def print_tables(
    rates: dict[tuple[str, int], dict[str, float]], cpu_ms: dict[str, dict[str, float]]
) -> None:
    """Throughput per source and loader, then main-process CPU time per clip."""
    print(
        "| source | loader | baseline clips/s | floor clips/s | motionfit clips/s "
        "| motionfit / baseline | floor / motionfit | motionfit indexed clips/s "
        "| floor / indexed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, workers), rate in rates.items():
        loader = "main process" if workers == 0 else f"{workers} worker(s)"
        print(
            f"| {name} | {loader} | {rate['baseline']:.1f} | {rate['floor']:.1f} "
            f"| {rate['motionfit']:.1f} | {rate['motionfit'] / rate['baseline']:.1f}x "
            f"| {rate['floor'] / rate['motionfit']:.2f}x | {rate['indexed']:.1f} "
            f"| {rate['floor'] / rate['indexed']:.2f}x |"
        )
    if not cpu_ms:
        return
    print("\nCPU time per clip in the main process (ms; not inflated by the other jobs):\n")
    print(
        "| source | baseline | floor | motionfit | motionfit indexed | baseline / motionfit "
        "| motionfit / floor | indexed / floor |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, ms in cpu_ms.items():
        print(
            f"| {name} | {ms['baseline']:.1f} | {ms['floor']:.1f} | {ms['motionfit']:.1f} "
            f"| {ms['indexed']:.1f} | {ms['baseline'] / ms['motionfit']:.1f}x "
            f"| {ms['motionfit'] / ms['floor']:.2f}x | {ms['indexed'] / ms['floor']:.2f}x |"
        )


def decode_size_table(folder: Path, repeats: int = 9) -> None:
    """Median CPU ms of one training clip (decode + transform) per source size, decoded at
    native size and at short side 256, and the size the rule picks."""
    with av.open(str(FULL_HD_CLIP)) as container:
        frames = [frame for _, frame in zip(range(64), container.decode(video=0), strict=False)]
    transform, short_side = TrainTransform(AUGMENT), AUGMENT.resolved_short_side()
    indices = list(range(0, 64, 4))
    print("| source | native: decode + transform | short side 256: decode + transform | rule |")
    print("|---|---|---|---|")
    for width, height in DECODE_SIZES:
        pixels = np.stack(
            [f.to_ndarray(format="rgb24", width=width, height=height) for f in frames]
        )
        path = write_video(folder / f"{width}x{height}.mp4", pixels, fps=30, gop=32, crf=23)
        probe(path)
        cells = []
        for size in (None, short_side):
            decode, spatial = [], []
            for seed in range(repeats):
                start = time.process_time()
                clip = read_clip(path, indices, short_side=size)
                middle = time.process_time()
                transform(clip, torch.Generator().manual_seed(seed))
                decode.append(middle - start)
                spatial.append(time.process_time() - middle)
            ms = [1000 * float(np.median(t)) for t in (decode, spatial)]
            cells.append(f"{ms[0]:.1f} + {ms[1]:.1f} = {sum(ms):.1f}")
        rule = decode_short_side(width, height, short_side)
        print(f"| {width}x{height} | {cells[0]} | {cells[1]} | {rule or 'native'} |", flush=True)


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=32, help="clips per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--source", type=Path, default=REAL_CLIP, help="footage to re-encode")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per cell; the fastest counts (less noise)"
    )
    parser.add_argument(
        "--decode-sizes", action="store_true", help="time native vs downscaled decoding instead"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # the main process is the single worker when --workers 0
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    if args.decode_sizes:
        with tempfile.TemporaryDirectory() as folder:
            decode_size_table(Path(folder))
        return
    with tempfile.TemporaryDirectory() as folder:
        per_run = args.clips + BATCH  # the first batch warms up and is not timed
        runs = len(args.workers) * args.repeats + 1  # + 1: files for the stage breakdown
        sources, num_frames = make_sources(args.source, Path(folder), per_run * runs)
        keys = ("baseline", "floor", "motionfit", "indexed")
        rates: dict[tuple[str, int], dict[str, float]] = {}
        cpu_ms: dict[str, dict[str, float]] = {}
        for name, paths in sources.items():
            unused = iter(range(runs))  # every run reads files no worker has indexed
            for workers in args.workers:
                rates[name, workers] = dict.fromkeys(keys, 0.0)
                if workers == 0:
                    cpu_ms[name] = dict.fromkeys(keys, float("inf"))
                for _ in range(args.repeats):
                    run = next(unused)
                    files = paths[run * per_run : (run + 1) * per_run]
                    for key in keys:
                        rate, cpu = measure(key, files, num_frames, workers)
                        rates[name, workers][key] = max(rates[name, workers][key], rate)
                        if workers == 0:
                            cpu_ms[name][key] = min(cpu_ms[name][key], cpu)
        print_tables(rates, cpu_ms)
        print("\nWhere a motionfit clip's time goes (main process, median CPU ms):\n")
        print("| source | " + " | ".join(STAGES) + " |")
        print("|---|" + "---|" * len(STAGES))
        for name, paths in sources.items():
            stages = stage_milliseconds(paths[-per_run:], num_frames)
            print(f"| {name} | " + " | ".join(f"{ms:.1f}" for ms in stages) + " |")
    batch_ms = normalize_milliseconds()
    print(
        f"\nVideoNormalize in the training step, on this CPU (1 thread): {batch_ms:.1f} ms per "
        f"batch of {BATCH} uint8 clips ({batch_ms / BATCH:.1f} ms per clip)"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
