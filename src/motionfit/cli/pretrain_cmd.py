"""``motionfit pretrain``: self-supervised VideoMAE pretraining on unlabeled videos."""

from __future__ import annotations

from pathlib import Path

import typer

from motionfit.cli.common import (
    FORCE_OPTION,
    RUN_OUT_OPTION,
    SET_OPTION,
    console,
    quiet_lightning,
    run_config,
)

DEFAULT_RECIPE = "videomae_pretrain"


def pretrain(
    data: str | None = typer.Option(
        None, "--data", help="Videos to learn from: a plain folder of videos or any dataset."
    ),
    out: Path | None = RUN_OUT_OPTION,
    config: str | None = typer.Option(
        None, "--config", "-c", help=f"Recipe name or YAML file (default: {DEFAULT_RECIPE})."
    ),
    overrides: list[str] | None = SET_OPTION,
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the pretraining run in this directory."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    force: bool = FORCE_OPTION,
) -> None:
    """Pretrain a VideoMAE encoder by masked video modeling (tube masking, labels ignored);
    fine-tune it with `motionfit train --init-from RUN_DIR`."""
    from motionfit.pretrain.fit import pretrain as run_pretraining

    quiet_lightning()
    cfg, out = run_config(
        resume=resume,
        out=out,
        config=config,
        overrides=overrides,
        data={"data.source": data},
        default_config=DEFAULT_RECIPE,
    )
    result = run_pretraining(cfg, out, resume=resume is not None, progress=not quiet, force=force)
    score = "n/a" if result.best_score is None else f"{result.best_score:.4f}"
    console.print(
        f"done: {result.epochs} epochs, {result.steps} steps; best {result.monitor} = {score}\n"
        f"run directory: {result.run.root} (weights {result.run.model.name}, previews in "
        f"previews/)\nfine-tune: motionfit train --init-from {result.run.root} --data LABELED "
        "--config RECIPE --out RUN_DIR"
    )


def register(app: typer.Typer) -> None:
    """Add ``pretrain`` to the root app."""
    app.command("pretrain")(pretrain)
