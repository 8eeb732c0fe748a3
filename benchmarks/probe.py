"""How much faster is a probe on cached features than fine-tuning the whole model?

    python benchmarks/probe.py [--model vjepa2_tiny] [--steps 200] [--batch 8] [--threads 1]

Makes a small synthetic labeled set, caches the frozen backbone's tokens once
(``motionfit features``' code), then times optimizer steps (forward, backward, AdamW) of

- the linear and the attentive probe on the cached tokens (memory-mapped, read through the
  probe's own dataset and a DataLoader, as ``motionfit train --features`` reads them), and
- full fine-tuning of the same model on decoded, augmented clips (as ``motionfit train``),

and prints steps/s of each. The Lightning loop around either adds the same few ms per step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from motionfit.config import Config
from motionfit.data.dataset import VideoClipDataset, collate_clips
from motionfit.data.synthetic import make_dataset
from motionfit.data.transforms import VideoNormalize
from motionfit.features.cache import FeatureCache
from motionfit.features.extract import extract_features, features_config
from motionfit.features.probe import FeatureDataset
from motionfit.models.base import VideoClassifier
from motionfit.models.build import build_model
from motionfit.models.freeze import freeze_model
from motionfit.models.head import HeadSpec
from motionfit.run import RunPaths
from motionfit.train.datamodule import VideoDataModule


def _model(config: Config, pool: str, freeze: str) -> VideoClassifier:
    torch.manual_seed(0)
    model = build_model(
        config.model.name, num_classes=4, num_frames=config.sampling.num_frames,
        image_size=config.augment.crop_size, head=HeadSpec(dropout=0.0, pool=pool),
        drop_path=0.0,
    )  # fmt: skip
    freeze_model(model, freeze)
    return model.train()


def _steps_per_second(model: VideoClassifier, batches, steps: int, step) -> float:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    iterator = iter(batches())
    step(model, next(iterator), optimizer)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(batches())
            batch = next(iterator)
        step(model, batch, optimizer)
    return steps / (time.perf_counter() - start)


def _probe_step(model: VideoClassifier, batch: dict, optimizer: torch.optim.Optimizer) -> None:
    loss = F.cross_entropy(model.head(model.pool(batch["video"])), batch["label"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _full_step(normalize: VideoNormalize):
    def step(model: VideoClassifier, batch: dict, optimizer: torch.optim.Optimizer) -> None:
        loss = F.cross_entropy(model(normalize(batch["video"])), batch["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    """Print steps/s of probes on cached features and of full fine-tuning."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vjepa2_tiny")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="1: no oversubscription on a "
        "shared 2-core machine (small matmuls slow down ~10x with 2)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        videos = make_dataset(Path(tmp) / "videos", classes=4, per_class=8, size=(96, 96),
                              frames=(24, 32), seed=0)  # fmt: skip
        sets = ["data.num_workers=0", "augment.mix.mixup_alpha=0", "augment.mix.cutmix_alpha=0",
                f"train.batch_size={args.batch}"]  # fmt: skip
        config, weights = features_config(args.model, str(videos), overrides=sets)
        start = time.perf_counter()
        cache = extract_features(config, weights, Path(tmp) / "cache", train_views=2)
        extract_s = time.perf_counter() - start
        cache = FeatureCache(cache.root)
        rows = [
            (pool, _steps_per_second(
                _model(config, pool, "backbone"),
                lambda: DataLoader(FeatureDataset(cache, "train", train=True),
                                   batch_size=args.batch, shuffle=True, drop_last=True),
                args.steps, _probe_step,
            ))
            for pool in ("linear", "attentive")
        ]  # fmt: skip
        datamodule = VideoDataModule(config, RunPaths(Path(tmp) / "run"))
        datamodule.prepare_records()
        clips = VideoClipDataset(datamodule.train_records, mode="train",
                                 **datamodule.dataset_options())  # fmt: skip
        full = _steps_per_second(
            _model(config, "attentive", "none"),
            lambda: DataLoader(clips, batch_size=args.batch, shuffle=True, drop_last=True,
                               collate_fn=collate_clips),
            max(3, args.steps // 10), _full_step(VideoNormalize.from_config(config.augment)),
        )  # fmt: skip
    frames, size = config.sampling.num_frames, config.augment.crop_size
    print(f"{args.model} {frames}x{size}, batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"feature extraction: {len(cache.rows)} views in {extract_s:.1f} s "
          f"({cache.meta['tokens']} tokens x {cache.meta['dim']} per view)")  # fmt: skip
    for pool, rate in rows:
        print(f"{pool:>9} probe on cached features: {rate:8.1f} steps/s ({rate / full:.0f}x)")
    print(f"full fine-tuning on decoded clips:  {full:8.2f} steps/s")


if __name__ == "__main__":
    main()
