"""``motionfit features``: cache a frozen backbone's token features for fast probes."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from motionfit.cli.common import (
    FORCE_OPTION,
    SET_OPTION,
    VAL_OPTION,
    console,
    err_console,
    quiet_lightning,
)
from motionfit.cli.eval_cmd import DEVICES_OPTION


def features(
    run_or_model: str = typer.Argument(
        ..., help="A run directory, or a model name (vjepa2_*, videoprism_*)."
    ),
    data: str = typer.Option(..., "--data", help="Labeled videos (folder, list, split file)."),
    out: Path = typer.Option(..., "--out", "-o", help="Feature folder to create or complete."),
    val: str | None = VAL_OPTION,
    views: int = typer.Option(
        4, "--views", help="Augmented views cached per training video (epoch k uses view k mod K)."
    ),
    dtype: str = typer.Option("float16", "--dtype", help="Stored precision: float16 or float32."),
    devices: int = DEVICES_OPTION,
    overrides: list[str] | None = SET_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Run the frozen backbone once over the data and cache its tokens (memory-mapped, with an
    index; an interrupted run resumes; unreadable videos are left out and listed in
    OUT/bad_files.tsv). Then: motionfit train --features OUT --out RUN."""
    from motionfit.devices import inference_devices
    from motionfit.features.extract import extract_features, features_config

    quiet_lightning()
    inference_devices(devices)  # too many GPUs: an error before anything is read
    config, weights = features_config(run_or_model, data, val, overrides)
    run = run_or_model if Path(run_or_model).is_dir() else None
    cache = extract_features(
        config,
        weights,
        out,
        train_views=views,
        dtype=dtype,
        echo=True,
        force=force,
        inputs=[run],
        devices=devices,
    )
    if cache.left_out:
        err_console.print(
            f"left out {len(cache.left_out)} unreadable video(s), listed in "
            f"{cache.root / 'bad_files.tsv'}",
            markup=False,
            highlight=False,
        )
    size_mb = cache.tokens.nbytes / 2**20
    console.print(
        f"features: {len(cache.rows)} views x {cache.meta['tokens']} tokens x "
        f"{cache.meta['dim']} ({size_mb:.0f} MiB, {dtype}) in {cache.root}\n"
        f"next: motionfit train --features {shlex.quote(str(cache.root))} --out RUN_DIR",
        markup=False,
        highlight=False,
        soft_wrap=True,  # a long path must not break the command into lines
    )


def register(app: typer.Typer) -> None:
    """Add ``features`` to the root app."""
    app.command("features")(features)
