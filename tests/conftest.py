"""Shared fixtures: the real clips in ../shared/data/real-videos and generated videos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Tests run in parallel (pytest -n 2) on 2 cores: one thread each avoids oversubscription,
# which slows small convolutions by 10x or more.
torch.set_num_threads(1)

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-videos"


@pytest.fixture(scope="session")
def real_videos_dir() -> Path:
    """The folder of real encoded clips shipped beside the repository (skip if absent)."""
    if not REAL_VIDEOS.is_dir():
        pytest.skip(f"real clips not found at {REAL_VIDEOS} (checkout ../shared beside the repo)")
    return REAL_VIDEOS


@pytest.fixture(scope="session")
def real_videos(real_videos_dir: Path) -> list[Path]:
    """Every real clip (mp4 and avi)."""
    return sorted(p for p in real_videos_dir.iterdir() if p.suffix in {".mp4", ".avi"})


def numbered_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frames whose content encodes their index (a bright bar at x = index), for exactness
    checks after lossy compression."""
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    rng = np.random.default_rng(num_frames)
    frames[:] = rng.integers(40, 80, size=(1, 1, 1, 3), dtype=np.uint8)
    for index in range(num_frames):
        x = index % width
        frames[index, :, x, :] = 255
        frames[index, : (index // width + 1) * 4, :, 1] = 200
    return frames
