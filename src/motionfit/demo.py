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
from motionfit.data.synthetic import OUTPUT_KIND, check_synth_dir, make_dataset
from motionfit.errors import OutputError
from motionfit.output_dir import claim_output_dir, releases_output_locks
from motionfit.run import RunPaths, check_run_dir


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
    """The demo's train and held-out test sets, made once and reused while complete.

    A complete set is reused and an incomplete or outdated one is made again. The default
    cache is motionfit's own; a ``--data-dir`` goes through the output guard: a folder there
    holding files motionfit did not write is an error naming it, checked before any write."""
    own_cache = root is None
    root = root or cache_dir() / "demo-data"
    sets = {name: root / name for name in ("train", "test")}
    done = {}
    for name, params in (("train", DEMO_TRAIN), ("test", DEMO_TEST)):  # check both first
        try:
            done[name] = check_synth_dir(
                sets[name], force=own_cache, other_settings=True, option="--data-dir", **params
            )
        except OutputError as exc:
            reason = str(exc).partition("; choose")[0]
            raise OutputError(f"{reason}; choose another --data-dir") from None
    for name, params in (("train", DEMO_TRAIN), ("test", DEMO_TEST)):
        if not done[name]:
            claim_output_dir(sets[name], OUTPUT_KIND)
            make_dataset(sets[name], workers=min(2, os.cpu_count() or 1), **params)
    return sets["train"], sets["test"]


@releases_output_locks  # the output's lock ends with the call
def run_demo(
    out: str | Path,
    data_root: Path | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> DemoResult:
    """Train and evaluate the demo run in ``out``; returns its paths and test metrics."""
    from motionfit.train.fit import evaluate_test_set, train

    # the run folder is checked before the data is made, so a wrong --out fails at once
    data_dir = data_root or cache_dir() / "demo-data"
    try:
        check_run_dir(RunPaths(Path(out)), "train", resume=False, inputs=[data_dir])
    except OutputError as exc:  # the demo has no --force to offer
        raise OutputError(f"{str(exc).partition('; choose')[0]}; choose another --out") from None
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
