"""Where the debiasing augmentations are cheaper: on the training batch (what motionfit does)
or in the loader (what a per-sample transform would do, decoding a second video per clip).

Prints, for a demo-sized batch (32 clips of 8x32x32) and a fine-tuning-sized one (8 clips of
16x224x224), the time of the registered debiasing augmentations on the batch (every one with
probability 1, so the worst case) against the loader's extra cost of the same batch: decoding
one more clip per sample from a real h264 file (the still frame or background of another
video). Ratios < 1 mean the batch is cheaper.

    python benchmarks/debias.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from motionfit.config import AugmentConfig
from motionfit.data.augment import BatchState, build_stage, registered
from motionfit.data.decode import read_clip
from motionfit.data.encode import write_video

SHAPES = {"demo (32 x 8x32x32)": (32, 8, 32), "fine-tune (8 x 16x224x224)": (8, 16, 224)}


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def _video(folder: Path, size: int, frames: int = 64) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(1, size, size, 3), dtype=np.uint8)
    clip = np.repeat(base, frames, axis=0)
    for t in range(frames):
        clip[t, :, (t * 3) % size] = 255
    return write_video(folder / f"clip{size}.mp4", clip, fps=25, codec="h264")


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    debias = [name for name, a in registered("batch").items() if a.needs_appearance]
    config = AugmentConfig(mix={"p": 0.0}, **{name: {"p": 1.0} for name in debias})
    steps = build_stage(config, "batch")

    def augment(videos: torch.Tensor, keys: list) -> torch.Tensor:
        state = BatchState(videos, torch.eye(len(videos)), keys, torch.Generator())
        for step in steps:
            state = step(state)
        return state.videos

    print(f"{'batch':28s} {'on the batch':>14s} {'2nd decode/batch':>18s} {'ratio':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (batch, frames, size) in SHAPES.items():
            videos = torch.randn(batch, 3, frames, size, size)
            keys = [(0, 0, i, 0) for i in range(batch)]
            on_batch = _time(lambda v=videos, k=keys: augment(v, k), args.repeats)
            path = _video(Path(tmp), size)
            indices = list(range(0, 2 * frames, 2))
            decode = _time(lambda p=path, i=indices: read_clip(p, i), args.repeats) * batch
            print(
                f"{name:28s} {on_batch * 1000:11.1f} ms {decode * 1000:15.1f} ms "
                f"{on_batch / decode:7.2f}"
            )


if __name__ == "__main__":
    main()
