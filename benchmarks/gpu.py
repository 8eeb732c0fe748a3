"""Training throughput and memory of each model family on one CUDA GPU, and what the loader
delivers, in one table.

    python benchmarks/gpu.py [--batch 8] [--steps 10] [--families swin3d_t mvit_v2_s ...]
                             [--no-compile] [--workers 4 8 16] [--loader-clips 256]

Models, each at its default clip (frames x size): Swin-T 32x224, MViTv2-S 16x224, VideoMAE-B
16x224, TimeSformer-B 8x224, R(2+1)D-18 16x112, random weights. Each is trained (forward,
cross-entropy, backward, AdamW step) under bf16-mixed autocast with and without channels-last
memory and ``torch.compile``: clips per second over ``--steps`` steps after warm-up steps
(compilation happens there) and peak GPU memory.

Loader: ``VideoClipDataset`` in train mode (16 frames at stride 4, RandomResizedCrop 224,
flip) over copies of the real clips in ../shared/data/real-videos (1080p and 340x256 h264,
mpeg4 avi) and over their ``motionfit data prepare`` copy, through a DataLoader with 4, 8
and 16 workers and pinned memory: clips per second it delivers (no model), so a row of the
model table can be compared with the loader that would feed it.

Without CUDA it exits at once with one line on stderr. The GPU machine needs torch,
Lightning and transformers plus PyAV and pydantic (for the loader rows and motionfit's
config): install their wheels first.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

FAMILIES = {  # model -> (frames, size)
    "swin3d_t": (32, 224),
    "mvit_v2_s": (16, 224),
    "videomae_b": (16, 224),
    "timesformer_b": (8, 224),
    "r2plus1d_18": (16, 112),
}
REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared/data/real-videos"
LOADER_SOURCES = (
    "skeleton_demo_1920x1080_28fps.mp4",
    "ntu_h264_in_avi_1920x1080_30fps.avi",
    "h264_340x256_30fps.mp4",
    "kinetics_armwrestling_340x256_28fps.mp4",
    "mpeg4_with_audio_320x240_25fps.avi",
)
NUM_CLASSES = 400


def train_speed(
    name: str, batch: int, steps: int, channels_last: bool, compile_model: bool
) -> tuple[float, float]:
    """(training clips per second, peak GiB) of ``name`` at its default clip, bf16-mixed."""
    from motionfit.models.build import build_model

    frames, size = FAMILIES[name]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = build_model(name, NUM_CLASSES, num_frames=frames, image_size=size).cuda()
    video = torch.randn(batch, 3, frames, size, size, device="cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        video = video.contiguous(memory_format=torch.channels_last_3d)
    labels = torch.randint(NUM_CLASSES, (batch,), device="cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    step_model = torch.compile(model) if compile_model else model

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(step_model(video), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):  # warm-up: cuDNN autotuning, compilation
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    speed = batch * steps / (time.perf_counter() - start)
    return speed, torch.cuda.max_memory_allocated() / 2**30


def loader_speed(paths: list[Path], workers: int, clips: int) -> float:
    """Training clips per second a DataLoader with ``workers`` workers delivers from ``paths``."""
    from torch.utils.data import DataLoader

    from motionfit.config import AugmentConfig, SamplingConfig
    from motionfit.data.dataset import VideoClipDataset, collate_clips, worker_init_fn
    from motionfit.data.records import VideoRecord

    records = [VideoRecord(paths[i % len(paths)], 0) for i in range(clips)]
    dataset = VideoClipDataset(
        records,
        mode="train",
        sampling=SamplingConfig(num_frames=16, stride=4, train_strides=[4], jitter_prob=0.0),
        augment=AugmentConfig(crop_size=224),
    )
    loader = DataLoader(
        dataset,
        batch_size=8,
        num_workers=workers,
        collate_fn=collate_clips,
        worker_init_fn=worker_init_fn,
        pin_memory=True,
        prefetch_factor=4,
    )
    batches = iter(loader)
    next(batches)  # workers started
    start, count = time.perf_counter(), 0
    for batch in batches:
        count += len(batch["video"])
    return count / (time.perf_counter() - start)


def loader_sources(folder: Path) -> dict[str, list[Path]]:
    """Copies of the real clips and their prepared copies (8 files of each clip)."""
    from motionfit.data.prepare import PrepareSettings, prepare_dataset

    for name in LOADER_SOURCES:
        for k in range(8):
            target = folder / "original" / f"{k}_{name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REAL_VIDEOS / name, target)
    prepare_dataset(folder / "original", folder / "prepared", PrepareSettings(), progress=False)
    return {
        kind: sorted(p for p in (folder / kind).iterdir() if p.suffix in {".mp4", ".avi"})
        for kind in ("original", "prepared")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile rows")
    parser.add_argument("--workers", nargs="+", type=int, default=[4, 8, 16])
    parser.add_argument("--loader-clips", type=int, default=256)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA GPU: torch.cuda.is_available() is False here")
    torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, bf16-mixed\n")
    print("| what | name | setting | clips/s | peak GiB |")
    print("|---|---|---|---|---|")
    for name in args.families:
        frames, size = FAMILIES[name]
        for compile_model in (False,) if args.no_compile else (False, True):
            for channels_last in (False, True):
                setting = (
                    f"{frames}x{size}, batch {args.batch}"
                    + (", channels-last" if channels_last else "")
                    + (", compiled" if compile_model else "")
                )
                try:
                    speed, peak = train_speed(
                        name, args.batch, args.steps, channels_last, compile_model
                    )
                    cells = f"{speed:.1f} | {peak:.1f}"
                except Exception as error:  # a row that fails must not hide the others
                    cells = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:80]} | -"
                print(f"| train | {name} | {setting} | {cells} |", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        sources = loader_sources(Path(tmp))
        for kind, paths in sources.items():
            for workers in args.workers:
                speed = loader_speed(paths, workers, args.loader_clips)
                print(
                    f"| loader | {kind} real clips | 16x224, {workers} workers | {speed:.1f} | - |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
