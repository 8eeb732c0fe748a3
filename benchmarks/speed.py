"""What the speed and memory switches of ``train`` buy: step time and peak memory of one
training step (forward + backward + AdamW) with and without each switch.

    python benchmarks/speed.py [--device cpu|cuda] [--steps 5] [--compile]

Cases: ``motioncnn_s`` (3-D CNN, 16x112) plain / ``train.channels_last`` (/ ``train.compile``
with ``--compile``: inductor compiles for minutes on a CPU); ``videomae_tiny`` at 16x112 plain /
``train.grad_checkpointing``. Each case runs in its own process: the step time is the median
after two warm-up steps; peak memory is the growth of the process's peak RSS over the steps on
a CPU, ``torch.cuda.max_memory_allocated`` on a GPU; "saved" counts the activations autograd
keeps for backward (what checkpointing trades away). Prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

CASES = {
    "cnn plain": ("motioncnn_s", 2, {}),
    "cnn channels_last": ("motioncnn_s", 2, {"channels_last": True}),
    "cnn compile": ("motioncnn_s", 2, {"compile": True}),
    "videomae plain": ("videomae_tiny", 4, {}),
    "videomae grad_checkpointing": ("videomae_tiny", 4, {"grad_checkpointing": True}),
}


def run_case(name: str, steps: int, device: str) -> dict[str, float]:
    """Time ``steps`` training steps of one case in this process."""
    from motionfit.config import TrainConfig
    from motionfit.models.build import build_model
    from motionfit.models.registry import get_spec
    from motionfit.train.speed import apply_speed_switches

    model_name, batch, switches = CASES[name]
    model = build_model(model_name, 10, 16, 112, drop_path=0.0).to(device).train()
    apply_speed_switches(model, get_spec(model_name), TrainConfig(**switches))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    video = torch.randn(batch, 3, 16, 112, 112, device=device)
    labels = torch.arange(batch, device=device) % 10
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(model(video), labels).backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    return {
        "step_s": statistics.median(times[2:]),
        "first_step_s": times[0],
        "peak_mb": peak,
        "saved_mb": saved_activations_mb(model, video, labels),
    }


def saved_activations_mb(
    model: torch.nn.Module, video: torch.Tensor, labels: torch.Tensor
) -> float:
    """Megabytes of activations autograd keeps for backward (parameters excluded; each storage
    once): the memory that gradient checkpointing trades for recomputation."""
    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.data_ptr() not in params:
            seen[tensor.data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = F.cross_entropy(model(video), labels)
    loss.backward()
    return sum(seen.values()) / 2**20


def main() -> None:
    """Run every case in a subprocess and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="Include the torch.compile case.")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.steps, args.device)))
        return
    print(f"{'case':<30} {'step (s)':>9} {'1st step (s)':>13} {'peak (MB)':>10} {'saved (MB)':>11}")
    for name in CASES:
        if name.endswith("compile") and not args.compile:
            continue
        command = [sys.executable, __file__, "--case", name, "--steps", str(args.steps)]
        output = subprocess.run(
            [*command, "--device", args.device], capture_output=True, text=True, check=True
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(
            f"{name:<30} {result['step_s']:>9.3f} {result['first_step_s']:>13.2f} "
            f"{result['peak_mb']:>10.0f} {result['saved_mb']:>11.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
