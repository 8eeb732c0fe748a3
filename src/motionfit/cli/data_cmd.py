"""``motionfit data``: make, split, inspect and preview datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from motionfit.cli.common import console
from motionfit.errors import DataError

data_app = typer.Typer(
    help="Make, split, inspect and preview video datasets.", no_args_is_help=True
)


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Output folder (one sub-folder per class)."),
    classes: int = typer.Option(8, "--classes", help="Number of motion classes (2-12)."),
    per_class: int = typer.Option(20, "--per-class", help="Videos per class."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed = identical files)."),
    size: str = typer.Option("64x64", "--size", help="Frame size HxW."),
    frames: str = typer.Option("32-48", "--frames", help="Frames per video, MIN-MAX."),
    fps: str = typer.Option("20-30", "--fps", help="Frame rate per video, MIN-MAX."),
    shortcut: float = typer.Option(
        0.0, "--shortcut", help="Probability that the background colour gives the class away."
    ),
    workers: int = typer.Option(1, "--workers", help="Processes used to render and encode."),
) -> None:
    """Write a synthetic motion dataset: real h264 videos whose class is their motion."""
    from motionfit.data.synthetic import make_dataset

    height, width = parse_pair(size, "x", "--size", int)
    out = make_dataset(
        out,
        classes=classes,
        per_class=per_class,
        seed=seed,
        size=(height, width),
        frames=parse_pair(frames, "-", "--frames", int),
        fps=parse_pair(fps, "-", "--fps", float),
        shortcut=shortcut,
        workers=workers,
    )
    console.print(f"wrote {classes * per_class} videos in {classes} classes to {out}")


def parse_pair(text: str, sep: str, option: str, kind: type) -> tuple:
    """Parse 'AxB' / 'MIN-MAX' (a single value means MIN == MAX)."""
    parts = text.lower().split(sep)
    try:
        values = tuple(kind(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise DataError(f"{option} must look like 'A{sep}B', got {text!r}")
    return values


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the root app."""
    app.add_typer(data_app, name="data")
