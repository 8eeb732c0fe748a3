"""Benchmark scripts that must behave on any machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_benchmark_without_cuda_exits_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        timeout=120,
    )
    assert done.returncode == 1 and not done.stdout
    assert done.stderr.strip().splitlines() == [
        "benchmarks/gpu.py needs a CUDA GPU: torch.cuda.is_available() is False here"
    ]
