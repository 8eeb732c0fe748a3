"""Clips per second from an S3 server vs local files, and why motionfit copies whole files.

    python benchmarks/storage.py [--epochs 3] [--frames 16] [--short-side 128] [--rtt-ms 0 20]

Starts moto's S3 server (the tests' fixture, tests/s3_server.py) behind a proxy that waits
``--rtt-ms`` before forwarding each request (a network round trip; localhost has ~0), uploads
the real clips of ``../shared/data/real-videos`` (240p-1080p, 0.3-11 MB) and reads ``--epochs``
random ``--frames``-frame windows (stride 2) per video, as a training run does, four ways:

- ``local``: the files on disk (``probe`` + ``read_clip``);
- ``s3 whole-file``: the same calls on ``s3://`` URLs: motionfit's path, one download per file
  into the local cache, then local decoding (the first epoch pays the downloads);
- ``s3 range reads``: PyAV reads an fsspec file object (s3fs, readahead cache, 5 MB blocks)
  for every window, after one index pass per file, nothing kept on disk (the alternative);
- ``s3 range reads, 1 MB blocks``: the same with smaller blocks (less over-read, more requests).

Prints clips/s, the ratio to local files and the requests each made; every mode must return
the same pixels as the local files (checked).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
REAL_VIDEOS = ROOT.parent / "shared" / "data" / "real-videos"
sys.path.insert(0, str(ROOT / "tests"))

from s3_server import CREDENTIALS, CuttingProxy, moto_server, upload_tree  # noqa: E402

from motionfit.data import _pyav, storage  # noqa: E402
from motionfit.data.decode import probe, read_clip, scaled_size  # noqa: E402

Window = tuple[str, np.ndarray]


def windows(videos: list[Path], epochs: int, frames: int, seed: int = 0) -> list[Window]:
    """``epochs`` random windows (stride 2) per video, shuffled per epoch: (name, indices)."""
    rng = np.random.default_rng(seed)
    counts = {v.name: probe(v).num_frames for v in videos}
    picks = []
    for _ in range(epochs):
        for name in rng.permutation(sorted(counts)):
            span = min(counts[name], 2 * frames)
            start = int(rng.integers(0, counts[name] - span + 1))
            picks.append((str(name), start + np.arange(span)[::2][:frames]))
    return picks


def read_with_motionfit(base: str, picks: list[Window], short_side: int) -> list[torch.Tensor]:
    """Every window through ``read_clip`` on ``base/NAME`` (a folder or an s3:// prefix)."""
    return [read_clip(f"{base}/{name}", list(indices), short_side) for name, indices in picks]


def read_by_range(
    prefix: str, picks: list[Window], short_side: int, block_size: int
) -> list[torch.Tensor]:
    """Every window decoded from an fsspec file object (range requests), after one index pass
    per file (kept in memory, as motionfit keeps its packet indexes)."""
    fs = storage.filesystem(prefix)
    indexes: dict[str, _pyav.PacketIndex] = {}
    clips = []
    for name, indices in picks:
        url = f"{prefix}/{name}"
        with fs.open(url, "rb", block_size=block_size) as handle:
            if name not in indexes:
                indexes[name] = _pyav.index_video(handle)
            index = indexes[name]
            width, height = scaled_size(index.width, index.height, short_side)
            clips.append(_pyav.read_frames(handle, index, indices, width, height))
    return clips


def timed(action: Callable[[], list[torch.Tensor]]) -> tuple[float, list[torch.Tensor]]:
    """Seconds taken by ``action`` and what it returned."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    """Parse the options, run every mode at every round-trip time, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--short-side", type=int, default=128)
    parser.add_argument("--rtt-ms", type=float, nargs="+", default=[0.0, 20.0])
    args = parser.parse_args()
    videos = sorted(p for p in REAL_VIDEOS.iterdir() if p.suffix in {".mp4", ".avi"})
    picks = windows(videos, args.epochs, args.frames)
    print(f"{len(videos)} real clips, {len(picks)} windows of {args.frames} frames, "
          f"short side {args.short_side}")  # fmt: skip
    seconds, reference = timed(
        lambda: read_with_motionfit(str(REAL_VIDEOS), picks, args.short_side)
    )
    rows = [("local files", "-", seconds, 0)]
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        proxy = CuttingProxy(upstream_port=int(endpoint.rsplit(":", 1)[1]))
        os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL=proxy.url)
        upload_tree(proxy.url, REAL_VIDEOS, "s3://bench/videos")
        modes: dict[str, Callable[[str], list[torch.Tensor]]] = {
            "s3 whole-file (motionfit)": lambda prefix: read_with_motionfit(
                prefix, picks, args.short_side
            ),
            "s3 range reads, 5 MB blocks": lambda prefix: read_by_range(
                prefix, picks, args.short_side, 5 * 2**20
            ),
            "s3 range reads, 1 MB blocks": lambda prefix: read_by_range(
                prefix, picks, args.short_side, 2**20
            ),
        }
        for rtt in args.rtt_ms:
            proxy.delay_s = rtt / 1000
            for label, read in modes.items():
                os.environ["MOTIONFIT_CACHE"] = f"{tmp}/cache-{rtt}-{len(rows)}"  # cold cache
                for video in videos:
                    storage.forget_local_copy(f"s3://bench/videos/{video.name}")
                storage.filesystem("s3://").invalidate_cache()
                before = proxy.requests
                seconds, clips = timed(lambda read=read: read("s3://bench/videos"))
                assert all(torch.equal(a, b) for a, b in zip(clips, reference, strict=True))
                rows.append((label, f"{rtt:g}", seconds, proxy.requests - before))
        proxy.close()
    local = rows[0][2]
    print(f"{'mode':30} {'rtt ms':>6} {'clips/s':>8} {'vs local':>9} {'requests':>9}")
    for label, rtt, seconds, requests in rows:
        print(f"{label:30} {rtt:>6} {len(picks) / seconds:8.1f} {local / seconds:8.2f}x "
              f"{requests:9d}")  # fmt: skip


if __name__ == "__main__":
    main()
