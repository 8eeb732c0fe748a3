"""How much faster is ``motionfit predict --devices 2`` than one device, on CPU processes?

    python benchmarks/inference_devices.py [--videos 32] [--devices 2] [--model motioncnn_tiny]

Makes the run and video folder of ``benchmarks/predict.py`` (random weights, the real clips of
``../shared/data/real-videos`` linked in turn) and times, in the same process, one after the
other: ``predict_videos(run, videos)`` on one device (this process) and with
``devices=--devices`` (that many spawned CPU processes; their start, imports and model load are
counted). Prints videos/s of each and the ratio, and checks both give the same probabilities.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from predict import make_run, video_folder

from motionfit.predict import predict_videos
from motionfit.run import load_run


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--model", default="motioncnn_tiny")
    parser.add_argument("--size", type=int, default=112)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = load_run(make_run(Path(tmp) / "run", args.model, args.size))
        videos = video_folder(Path(tmp) / "videos", args.videos)
        predict_videos(run, videos[:1])  # warm-up: imports, first allocations
        seconds, results = {}, {}
        for devices in (1, args.devices):
            start = time.perf_counter()
            results[devices] = predict_videos(run, videos, devices=devices).predictions
            seconds[devices] = time.perf_counter() - start
    pairs = zip(results[1], results[args.devices], strict=True)
    worst = max(abs(a.top[0].probability - b.top[0].probability) for a, b in pairs)
    print(f"{args.videos} videos, {args.model} at {args.size} px, 2 clips each")
    print("| devices | videos/s | ratio |")
    print("|---|---|---|")
    for devices, took in seconds.items():
        print(f"| {devices} | {args.videos / took:.2f} | {seconds[1] / took:.2f} |")
    print(f"largest top-1 probability difference between the two: {worst:.1e}")


if __name__ == "__main__":
    main()
