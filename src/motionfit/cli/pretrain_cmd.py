"""``motionfit pretrain``: self-supervised VideoMAE pretraining on unlabeled videos."""

from __future__ import annotations

from pathlib import Path

import typer

from motionfit.cli.common import FORCE_OPTION, SET_OPTION, console
from motionfit.cli.train_cmd import quiet_lightning
from motionfit.errors import ConfigError

DEFAULT_RECIPE = "videomae_pretrain"


def pretrain(
    data: str | None = typer.Option(
        None, "--data", help="Videos to learn from: a plain folder of videos or any dataset."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory to create."),
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
    from motionfit.config import load_config
    from motionfit.pretrain.fit import pretrain as run_pretraining
    from motionfit.run import RunPaths

    quiet_lightning()
    if resume is not None:
        if data or config:
            raise ConfigError(
                "--resume continues a run with its own config and data; "
                "only --set overrides may be added"
            )
        cfg = load_config(RunPaths(resume).config, overrides)
        out = resume
    else:
        if out is None:
            raise ConfigError("missing --out RUN_DIR (where the run is written)")
        extra = [f"data.source={data}"] if data else []
        cfg = load_config(config or DEFAULT_RECIPE, [*(overrides or []), *extra])
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
