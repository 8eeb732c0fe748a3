"""What does ``motionfit train`` cost over a bare PyTorch loop doing the same work?

    python benchmarks/overhead.py [--epochs 2 8] [--videos 24] [--repeats 2]

Makes a synthetic set (4 classes, ``--videos`` per class), then times whole processes, the two
loops interleaved per repeat (best of ``--repeats``), at two epoch counts:

- **motionfit**: ``motionfit train --config demo --data D -q`` with the demo's model, batch,
  optimizer, schedule, label smoothing, grad clip and MixUp/CutMix; clean-train scoring,
  TensorBoard and diagnostics off;
- **bare**: a fresh interpreter that builds the same data module, model and batch
  augmentations (motionfit's code: the work is the same) and runs a plain loop: AdamW steps with
  the same schedule, gradient clipping, and each epoch the validation videos scored as
  motionfit scores them; no Lightning, no checkpoints, no logging;
- ``import torch`` alone.

From the two epoch counts it separates the fixed start (the intercept) from the cost per
optimizer step (the slope) and prints both for each loop, and motionfit's overhead over the
bare loop: per step in ms and percent, and the start beyond ``import torch``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = [
    "train.clean_train_videos=0",
    "output.tensorboard=false",
    "eval.diagnose=false",
    "train.patience=0",
    "data.split_ratio=0.9",
]


def bare_loop(data: str, epochs: int) -> None:
    """Train the demo recipe on ``data`` for ``epochs`` in a plain PyTorch loop."""
    import torch

    from motionfit.config import load_config
    from motionfit.models import build_model_from_config, resolve_model_defaults
    from motionfit.run import RunPaths
    from motionfit.train.datamodule import VideoDataModule
    from motionfit.train.optim import build_optimizer, scaled_lr
    from motionfit.train.schedule import build_scheduler
    from motionfit.train.task import VideoClassificationTask

    overrides = [f"data.source={data}", f"train.epochs={epochs}", *SETTINGS]
    config = resolve_model_defaults(load_config("demo", overrides))
    with tempfile.TemporaryDirectory() as run:
        datamodule = VideoDataModule.for_run(config, RunPaths(Path(run)))
        labels = datamodule.prepare_records()
        config = datamodule.config
        datamodule.setup("fit")
        torch.manual_seed(config.train.seed)
        model = build_model_from_config(config, len(labels))
        task = VideoClassificationTask(config, model, len(labels))
        optimizer = build_optimizer(
            model, config.optim, scaled_lr(config.optim, config.train.batch_size)
        )
        steps = datamodule.train_batches_per_epoch(1)
        scheduler = build_scheduler(optimizer, config.schedule, steps, steps * epochs)
        generator = torch.Generator().manual_seed(0)
        val_loader = datamodule.val_dataloader()[0]
        for _ in range(epochs):
            task.train()
            for batch in datamodule.train_dataloader():
                loss, _, _ = task.compute_loss(batch, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
                optimizer.step()
                scheduler.step()
            task.eval()
            with torch.no_grad():
                for batch in val_loader:
                    task.video_probabilities(batch["video"])


def seconds(command: list[str]) -> float:
    """Wall time of one process (its output discarded; a failure stops the benchmark)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Time both loops at both epoch counts and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs=2, default=[2, 8])
    parser.add_argument("--videos", type=int, default=24, help="videos per class")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--bare", nargs=2, metavar=("DATA", "EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare_loop(args.bare[0], int(args.bare[1]))
        return
    from motionfit.config import load_config
    from motionfit.data.synthetic import make_dataset

    few, many = args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        data = str(make_dataset(Path(tmp) / "data", classes=4, per_class=args.videos))
        runs = Path(tmp) / "runs"

        def motionfit(epochs: int, repeat: int) -> list[str]:
            out = runs / f"e{epochs}-r{repeat}"
            sets = [f"--set={s}" for s in (f"train.epochs={epochs}", *SETTINGS)]
            command = ["-m", "motionfit.cli.main", "train", "--config", "demo", "--data", data]
            return [sys.executable, *command, "--out", str(out), "-q", *sets]

        def bare(epochs: int) -> list[str]:
            return [sys.executable, __file__, "--bare", data, str(epochs)]

        best: dict[tuple[str, int], float] = {}
        torch_import = float("inf")
        for repeat in range(args.repeats):
            torch_import = min(torch_import, seconds([sys.executable, "-c", "import torch"]))
            for epochs in (few, many):
                for name, command in (
                    ("motionfit", motionfit(epochs, repeat)),
                    ("bare", bare(epochs)),
                ):
                    elapsed = seconds(command)
                    best[name, epochs] = min(best.get((name, epochs), float("inf")), elapsed)
        config = load_config("demo", [f"data.source={data}", *SETTINGS])
    train_videos = round(4 * args.videos * config.data.split_ratio)
    steps = train_videos // config.train.batch_size
    print(f"{4 * args.videos} videos, ~{steps} steps per epoch; best of {args.repeats}; "
          f"import torch {torch_import:.2f} s\n")  # fmt: skip
    print("| loop | start s | per step ms | start beyond import torch s |")
    print("|---|---|---|---|")
    fits = {}
    for name in ("bare", "motionfit"):
        per_step = (best[name, many] - best[name, few]) / ((many - few) * steps)
        start = best[name, few] - few * steps * per_step
        fits[name] = (start, per_step)
        print(f"| {name} | {start:.2f} | {1000 * per_step:.1f} | {start - torch_import:.2f} |")
    (bare_start, bare_step), (mf_start, mf_step) = fits["bare"], fits["motionfit"]
    print(
        f"\nmotionfit over the bare loop: {1000 * (mf_step - bare_step):+.1f} ms per step "
        f"({(mf_step - bare_step) / bare_step:+.0%}), {mf_start - bare_start:+.2f} s of start"
    )


if __name__ == "__main__":
    main()
