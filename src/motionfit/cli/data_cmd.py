"""``motionfit data``: make, split, inspect and preview datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from motionfit.cli.common import CONFIG_OPTION, SET_OPTION, console
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
    frames: str = typer.Option("16-32", "--frames", help="Frames per video, MIN-MAX."),
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


@data_app.command("split")
def split(
    source: str = typer.Argument(..., help="Dataset (folder per class, list/CSV, split file)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train.txt, val.txt, labels.txt."),
    ratio: float = typer.Option(0.7, "--ratio", help="Fraction of each class kept for training."),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    fmt: str = typer.Option("auto", "--format", help="Dataset format (see data.format)."),
    video_root: Path | None = typer.Option(None, "--video-root", help="Root of relative paths."),
) -> None:
    """Stratified, group-aware split into list files that `motionfit train` reads."""
    from motionfit.data.records import read_records
    from motionfit.data.splits import split_to_dir

    if not 0.0 < ratio < 1.0:
        raise DataError(f"--ratio must be between 0 and 1, got {ratio}")
    train_list, val_list = split_to_dir(
        source, out, ratio=ratio, seed=seed, format=fmt, video_root=video_root
    )
    train, _ = read_records(train_list)
    val, _ = read_records(val_list)
    console.print(
        f"{len(train)} training and {len(val)} validation videos: {train_list}, {val_list}"
    )


@data_app.command("inspect")
def inspect(
    source: str = typer.Argument(..., help="Dataset (folder, list/CSV, split file)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    fmt: str = typer.Option("auto", "--format", help="Dataset format (see data.format)."),
    video_root: Path | None = typer.Option(None, "--video-root", help="Root of relative paths."),
) -> None:
    """Videos and duration per class, frame-rate and resolution spread, unreadable files."""
    import json

    from rich.table import Table

    from motionfit.data.inspect import inspect_dataset

    summary = inspect_dataset(source, format=fmt, video_root=video_root)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    table = Table(
        "class",
        "videos",
        "minutes",
        "shortest s",
        "longest s",
        title=f"{summary.source}: {summary.readable}/{summary.videos} readable videos",
    )
    for c in summary.classes:
        table.add_row(
            c.name,
            str(c.videos),
            f"{c.seconds / 60:.1f}",
            f"{c.min_seconds:.1f}",
            f"{c.max_seconds:.1f}",
        )
    console.print(table)
    if summary.fps:
        f, n = summary.fps, summary.frames
        console.print(
            f"fps: {f['min']:g} .. {f['median']:g} (median) .. {f['max']:g};  "
            f"frames: {n['min']:g} .. {n['median']:g} .. {n['max']:g}"
        )
        sizes = ", ".join(f"{k} ({v})" for k, v in list(summary.resolutions.items())[:6])
        console.print(f"resolutions: {sizes}")
    for bad in summary.unreadable:
        console.print(f"[red]unreadable[/red] {bad['video']}: {bad['reason']}")


@data_app.command("preview")
def preview(
    source: str = typer.Argument(..., help="A video, or a dataset (see --index)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    config: str | None = CONFIG_OPTION,
    overrides: list[str] | None = SET_OPTION,
    rows: int = typer.Option(4, "--rows", help="Augmented samples to draw."),
    index: int = typer.Option(0, "--index", help="Which video of a dataset."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples."),
) -> None:
    """A grid of augmented samples of one video (rows) by frame (columns)."""
    from motionfit.config import load_config
    from motionfit.data.preview import pick_video, preview_grid

    cfg = load_config(config, overrides)
    video = pick_video(source, index, cfg.data.format)
    path = preview_grid(video, cfg, out, rows=rows, seed=seed)
    console.print(f"wrote {path} ({rows} augmented samples of {video})")


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
