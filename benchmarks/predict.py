"""How much faster is ``motionfit predict`` over a folder of many videos than one video at a time?

    python benchmarks/predict.py [--videos 32] [--workers 2] [--model motioncnn_tiny] [--size 112]

Makes a run directory with the given model (random weights: the speed does not depend on them),
a folder of ``--videos`` real clips (the clips of ``../shared/data/real-videos``, 240p to 1080p,
linked in turn), and times, in the same process:

- the loop a user writes without batch inference: ``predict_videos(run, [video])`` per video
  (one video per batch, decoding in the main process);
- ``predict_videos(run, videos, num_workers=W)``: ``--workers`` decoding processes and
  batches across videos (what ``motionfit predict FOLDER --workers W`` does).

Prints videos/s of each and the ratio, and checks that both give the same probabilities.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from motionfit.config import dump_config, load_config
from motionfit.data.records import LabelMap
from motionfit.models import build_model_from_config, resolve_model_defaults
from motionfit.predict import predict_videos
from motionfit.run import RunPaths, load_run

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-videos"
CLASSES = ("a", "b", "c", "d", "e")


def make_run(root: Path, model: str, size: int) -> Path:
    """A run directory of ``model`` at ``size`` px with random weights and five classes."""
    paths = RunPaths(root)
    root.mkdir(parents=True)
    overrides = [f"model.name={model}", f"augment.crop_size={size}", "eval.clips=2"]
    config = resolve_model_defaults(load_config("demo", overrides))
    dump_config(config, paths.config)
    LabelMap(CLASSES).save(paths.labels)
    torch.manual_seed(0)
    net = build_model_from_config(config, len(CLASSES))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(paths.model))
    return root


def video_folder(root: Path, count: int) -> list[Path]:
    """``count`` links to the real clips, in turn."""
    clips = sorted(p for p in REAL_VIDEOS.iterdir() if p.suffix in {".mp4", ".avi"})
    root.mkdir(parents=True)
    links = []
    for i in range(count):
        source = clips[i % len(clips)]
        link = root / f"{i:03d}_{source.name}"
        link.symlink_to(source)
        links.append(link)
    return links


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="motioncnn_tiny")
    parser.add_argument("--size", type=int, default=112)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = load_run(make_run(Path(tmp) / "run", args.model, args.size))
        videos = video_folder(Path(tmp) / "videos", args.videos)
        predict_videos(run, videos[:1])  # warm-up: imports, first allocations
        start = time.perf_counter()
        loop = [predict_videos(run, [video]).predictions[0] for video in videos]
        loop_s = time.perf_counter() - start
        start = time.perf_counter()
        batched = predict_videos(run, videos, num_workers=args.workers).predictions
        batched_s = time.perf_counter() - start
    worst = max(
        abs(a.top[0].probability - b.top[0].probability) for a, b in zip(loop, batched, strict=True)
    )
    print(f"{args.videos} videos, {args.model} at {args.size} px, 2 clips each")
    print("| way | videos/s | ratio |")
    print("|---|---|---|")
    print(f"| one video at a time | {args.videos / loop_s:.2f} | 1.00 |")
    print(
        f"| batched, {args.workers} workers | {args.videos / batched_s:.2f} | "
        f"{loop_s / batched_s:.2f} |"
    )
    print(f"largest top-1 probability difference between the two: {worst:.1e}")


if __name__ == "__main__":
    main()
