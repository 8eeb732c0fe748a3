"""``motionfit demo``: the whole product on a CPU in minutes.

Makes (or reuses) the synthetic motion dataset, trains the tiny motion CNN with the default
augmentation and regularization on a 70/30 split of it, then scores a held-out test set
generated with another seed and writes ``metrics.json`` beside the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from motionfit.config import load_config
from motionfit.data.synthetic import is_complete, make_dataset


class DemoSet(TypedDict):
    """Settings of one synthetic demo set (``make_dataset`` keywords)."""

    classes: int
    per_class: int
    seed: int


DEMO_TRAIN = DemoSet(classes=8, per_class=120, seed=0)
DEMO_TEST = DemoSet(classes=8, per_class=20, seed=1000)


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and the held-out scores."""

    run: Path
    metrics_file: Path
    curves: Path
    metrics: dict


def cache_dir() -> Path:
    """``$MOTIONFIT_CACHE``, else ``~/.cache/motionfit``."""
    return Path(os.environ.get("MOTIONFIT_CACHE", Path.home() / ".cache" / "motionfit"))


def demo_data(root: Path | None = None) -> tuple[Path, Path]:
    """The demo's train and held-out test sets, made once and reused while complete."""
    root = root or cache_dir() / "demo-data"
    sets = []
    for name, params in (("train", DEMO_TRAIN), ("test", DEMO_TEST)):
        folder = root / name
        if not is_complete(folder, **params):
            make_dataset(folder, workers=min(2, os.cpu_count() or 1), **params)
        sets.append(folder)
    return sets[0], sets[1]


def run_demo(
    out: str | Path,
    data_root: Path | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> DemoResult:
    """Train and evaluate the demo run in ``out``; returns its paths and test metrics."""
    from motionfit.train.fit import evaluate_test_set, train

    train_dir, test_dir = demo_data(data_root)
    config = load_config("demo", [f"data.source={train_dir}", *(overrides or [])])
    result = train(config, out, progress=progress)
    metrics = evaluate_test_set(result.run, str(test_dir), out_dir=result.run.root)
    return DemoResult(
        run=result.run.root,
        metrics_file=result.run.root / "metrics.json",
        curves=result.run.curves,
        metrics=metrics,
    )
