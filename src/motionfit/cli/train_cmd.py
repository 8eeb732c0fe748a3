"""``motionfit train`` and ``motionfit demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from motionfit.cli.common import (
    CONFIG_OPTION,
    DATA_OPTION,
    FORCE_OPTION,
    RUN_OUT_OPTION,
    SET_OPTION,
    VAL_OPTION,
    console,
    err_console,
    quiet_lightning,
    run_config,
)
from motionfit.errors import ConfigError


def _no_config_message() -> str:
    from motionfit.config import list_recipes

    return (
        "motionfit train needs --config: a recipe ("
        + ", ".join(list_recipes())
        + ") or a YAML file, e.g. the one `motionfit plan DATA --out plan.yaml` writes from "
        "your videos"
    )


def train(
    data: str | None = DATA_OPTION,
    out: Path | None = RUN_OUT_OPTION,
    config: str | None = CONFIG_OPTION,
    val: str | None = VAL_OPTION,
    test: str | None = typer.Option(None, "--test", help="Test data, scored after training."),
    overrides: list[str] | None = SET_OPTION,
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this directory from its last checkpoint."
    ),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="Start from the weights of another run (e.g. a pretraining run)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    force: bool = FORCE_OPTION,
    features: Path | None = typer.Option(
        None, "--features", help="Train a probe on features cached by 'motionfit features'."
    ),
) -> None:
    """Train a model; writes config, labels, checkpoints, metrics.csv, curves and weights."""
    from motionfit.config import load_config
    from motionfit.run import RunPaths
    from motionfit.train.fit import train as run_training
    from motionfit.train.schedule import replan_note

    quiet_lightning()
    if features is not None:
        from motionfit.features.probe import train_probe

        if config or data or val or test or init_from or resume or out is None:
            raise ConfigError(
                "--features trains a probe on the cached features' own config and data: pass "
                "only --out RUN_DIR and --set overrides"
            )
        result = train_probe(features, out, overrides, progress=not quiet, force=force)
    else:
        if config is None and resume is None:
            raise ConfigError(_no_config_message())
        cfg, out = run_config(
            resume=resume,
            out=out,
            config=config,
            overrides=overrides,
            data={"data.source": data, "data.val": val, "data.test": test},
            resume_conflicts=[init_from],
        )
        if resume is not None:
            note = replan_note(load_config(RunPaths(resume).config), cfg)
            if note:
                err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        result = run_training(
            cfg, out, resume=resume is not None, init_from=init_from, progress=not quiet,
            force=force,
        )  # fmt: skip
    score = "n/a" if result.best_score is None else f"{result.best_score:.4f}"
    if result.test_metrics:
        console.print(f"test top-1 {result.test_metrics['top1']:.1%} (see {result.run.root}/eval)")
    console.print(
        f"done: {result.epochs} epochs, {result.steps} steps; best {result.monitor} = {score}\n"
        f"run directory: {result.run.root} (weights {result.run.model.name}, "
        f"metrics {result.run.metrics.name}, curves {result.run.curves.name})"
    )


def demo(
    out: Path = typer.Option(
        Path("motionfit-demo"), "--out", "-o", help="Run directory to create."
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Where the synthetic data is made and cached "
        "(default: $MOTIONFIT_CACHE/demo-data or ~/.cache/motionfit/demo-data).",
    ),
    overrides: list[str] | None = SET_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """The main job on a CPU: make the synthetic motion set, train the tiny motion CNN with
    the default augmentation and regularization, and score a held-out test set."""
    import time

    from motionfit.demo import run_demo

    quiet_lightning()
    start = time.perf_counter()
    result = run_demo(out, data_root=data_dir, overrides=overrides, progress=not quiet)
    minutes = (time.perf_counter() - start) / 60
    m = result.metrics
    console.print(
        f"held-out test: top-1 {m['top1']:.1%}, top-5 {m['top5']:.1%}, mean class accuracy "
        f"{m['mean_class_accuracy']:.1%} on {m['num_videos']} videos ({minutes:.1f} min)\n"
        f"metrics: {result.metrics_file}\ncurves:  {result.curves}\nrun:     {result.run}"
    )
    if "diagnostics" in m:
        from motionfit.cli.eval_cmd import print_diagnostics

        print_diagnostics(m)


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``demo`` to the root app."""
    app.command("train")(train)
    app.command("demo")(demo)
