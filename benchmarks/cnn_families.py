"""CPU cost per clip of the efficient CNNs (X3D, SlowFast) beside R(2+1)D-18 and the tiny
transformers, in one run.

    python benchmarks/cnn_families.py [--iters 2] [--threads 1]

Each model (random weights) runs one clip of its own default length and size (R(2+1)D-18
16x112, X3D-XS 4x160, X3D-S 13x160, the tiny models theirs), except SlowFast R50, which runs
its 32 frames at R(2+1)D's 112 px (at 224 px one CPU step takes minutes).
Forward: eval mode under ``torch.no_grad``; forward+backward: train mode, cross-entropy, one
``backward``. Each time is the median of ``--iters`` after one warm-up; the ratio is against
R(2+1)D-18's forward+backward measured in the same run. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

# (model, size): None = the model's default size
MODELS = (
    ("r2plus1d_18", None),
    ("x3d_xs", None),
    ("x3d_s", None),
    ("slowfast_r50", 112),
    ("x3d_tiny", None),
    ("slowfast_tiny", None),
    ("videomae_tiny", None),
    ("timesformer_tiny", None),
)


class Row(NamedTuple):
    """One model's costs: parameters (M) and seconds per clip."""

    model: str
    clip: str
    params_m: float
    forward: float
    train: float


def median_seconds(step: Callable[[], None], iters: int) -> float:
    """Median wall time of ``step`` over ``iters`` calls after one warm-up call."""
    step()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, size: int | None, iters: int) -> Row:
    """Parameters, forward and forward+backward seconds of one clip of model ``name``."""
    from motionfit.models.build import build_model
    from motionfit.models.registry import get_spec

    spec = get_spec(name)
    frames, size = spec.default_frames, size or spec.default_size
    torch.manual_seed(0)
    model = build_model(name, 10, frames, size)
    clip = torch.rand(1, 3, frames, size, size)
    target = torch.tensor([0])

    def forward() -> None:
        model.eval()
        with torch.no_grad():
            model(clip)

    def forward_backward() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(clip), target).backward()

    params = sum(p.numel() for p in model.parameters()) / 1e6
    return Row(
        name,
        f"{frames}x{size}",
        params,
        median_seconds(forward, iters),
        median_seconds(forward_backward, iters),
    )


def table(rows: list[Row]) -> str:
    """The rows as a markdown table with ratios against ``r2plus1d_18``."""
    base = next(r.train for r in rows if r.model == "r2plus1d_18")
    lines = [
        "| model | clip | params (M) | forward (ms) | forward+backward (ms) | vs R(2+1)D-18 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {r.clip} | {r.params_m:.1f} | {1000 * r.forward:.0f} "
        f"| {1000 * r.train:.0f} | {r.train / base:.3f}x |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure every model of :data:`MODELS` and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)  # shared cores: more threads spin
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(name, size, args.iters) for name, size in MODELS]
    print(table(rows))


if __name__ == "__main__":
    main()
