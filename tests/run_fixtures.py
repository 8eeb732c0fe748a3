"""Tiny run directories for the evaluate/report/predict/export tests, built without the
training code: the layout of ``motionfit.run`` (config.yaml, labels.txt, model.safetensors,
metrics.csv) from a model trained for a few steps with a plain loop, or left random."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from motionfit.config import Config, dump_config, load_config
from motionfit.data.dataset import VideoClipDataset, collate_clips
from motionfit.data.records import read_records
from motionfit.data.synthetic import make_dataset
from motionfit.data.transforms import VideoNormalize
from motionfit.models.build import build_model
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.head import HeadSpec
from motionfit.run import RunPaths

METRIC_COLUMNS = (
    "epoch", "step", "train_loss", "train_acc", "clean_train_acc", "val_loss", "val_top1",
    "val_top5", "lr",
)  # fmt: skip
MODEL_SIZES = {"motioncnn_tiny": 32, "videomae_tiny": 64, "timesformer_tiny": 64}


def make_videos(
    root: Path, classes: int = 3, per_class: int = 4, seed: int = 0, frames: tuple = (16, 24)
) -> Path:
    """A small synthetic motion dataset (real h264 files, 32x32 px, folder per class)."""
    return make_dataset(
        root, classes=classes, per_class=per_class, seed=seed, size=(32, 32), frames=frames
    )


def tiny_config(data_dir: Path, model: str = "motioncnn_tiny", extra: list[str] = ()) -> Config:
    """The demo recipe shrunk to 8-frame clips at the model's tiny size, 2 eval clips."""
    size = MODEL_SIZES[model]
    config = load_config(
        "demo",
        [
            f"model.name={model}",
            f"augment.crop_size={size}",
            "sampling.num_frames=8",
            "sampling.stride=2",
            f"data.source={data_dir}",
            "data.num_workers=0",
            "eval.clips=2",
            "eval.batch_size=8",
            "train.epochs=4",
            *extra,
        ],
    )
    return resolve_model_defaults(config)  # as a run resolves it


def make_run(
    run_dir: Path,
    data_dir: Path,
    *,
    model: str = "motioncnn_tiny",
    train_steps: int = 0,
    seed: int = 0,
    extra: list[str] = (),
) -> Path:
    """Write a run directory for ``data_dir``: the model trained ``train_steps`` AdamW steps
    on it (0 = random weights) and a plausible ``metrics.csv`` (values depend on ``seed``)."""
    paths = RunPaths(Path(run_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    config = tiny_config(data_dir, model, extra)
    records, labels = read_records(data_dir)
    dump_config(config, paths.config)
    labels.save(paths.labels)
    torch.manual_seed(seed)
    net = build_model(
        model,
        num_classes=len(labels),
        num_frames=config.sampling.num_frames,
        image_size=config.augment.crop_size,
        head=HeadSpec(dropout=config.model.dropout, hidden_dim=config.model.hidden_dim),
        drop_path=0.0,
    )
    if train_steps:
        _train(net, config, records, train_steps, seed)
    net.eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(paths.model))
    write_metrics_csv(paths.metrics, config.train.epochs, seed)
    return paths.root


def write_metrics_csv(path: Path, epochs: int, seed: int) -> Path:
    """Rising accuracies, falling losses, a widening overfitting gap (shifted by ``seed``)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(METRIC_COLUMNS)
        for epoch in range(epochs):
            progress = 1 - math.exp(-(epoch + 1) / (2 + seed))
            clean = 0.35 + 0.6 * progress
            val = 0.33 + (0.45 - 0.05 * seed) * progress
            writer.writerow(
                [epoch, (epoch + 1) * 10, f"{1.1 - 0.6 * progress:.4f}",
                 f"{clean - 0.08:.4f}", f"{clean:.4f}", f"{1.1 - 0.4 * progress:.4f}",
                 f"{val:.4f}", f"{min(1.0, val + 0.3):.4f}", f"{1e-3 * (1 - epoch / epochs):.6f}"]
            )  # fmt: skip
    return path


def _train(net: torch.nn.Module, config: Config, records: list, steps: int, seed: int) -> None:
    """Plain AdamW loop on random training clips, a fresh epoch of clips every pass."""
    dataset = VideoClipDataset(
        records, mode="train", sampling=config.sampling, augment=config.augment, seed=seed
    )
    normalize = VideoNormalize.from_config(config.augment)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    batch, epoch, order = 6, 0, []
    net.train()
    for _ in range(steps):
        if len(order) < batch:
            dataset.set_epoch(epoch)
            epoch += 1
            order = torch.randperm(len(dataset), generator=generator).tolist()
        items = [dataset[i] for i in order[:batch]]
        order = order[batch:]
        clips = collate_clips(items)
        loss = torch.nn.functional.cross_entropy(net(normalize(clips["video"])), clips["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def run_cli(argv: list[str]) -> int:
    """``motionfit ARGV`` in-process through the real entry point (exit code; user errors are
    one line on stderr), with the evaluation commands registered if main.py does not yet."""
    from motionfit.cli import eval_cmd, main

    names = {command.name for command in main.app.registered_commands}
    if "evaluate" not in names:
        eval_cmd.register(main.app)
    return main.main(argv)


def assert_informative_png(data: bytes | Path, min_width: int = 300, min_height: int = 200) -> None:
    """A decodable PNG of at least this size whose pixels vary (not a blank canvas)."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    image = Image.open(io.BytesIO(raw))
    assert image.format == "PNG"
    assert image.width >= min_width and image.height >= min_height, image.size
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 10, "image is (nearly) blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, "image has almost no colours"
