"""``motionfit data``: make, split, inspect and preview datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from motionfit.cli.common import (
    CONFIG_OPTION,
    FORCE_OPTION,
    QUIET_OPTION,
    SET_OPTION,
    console,
)
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
    speed: str = typer.Option(
        "1-1", "--speed", help="Motion speed factor per video, MIN-MAX (a speed shift)."
    ),
    reference_fps: float | None = typer.Option(
        None,
        "--reference-fps",
        help="Set motion in time: a video at F fps moves REF/F times as far per frame as one "
        "at REF (a frame-rate shift); default: the same motion per frame at any rate.",
    ),
    drop: float = typer.Option(0.0, "--drop", help="Probability the camera skips a frame."),
    duplicate: float = typer.Option(
        0.0, "--duplicate", help="Probability the camera repeats a frame."
    ),
    multi_label: bool = typer.Option(
        False,
        "--multi-label",
        help="Two moving objects per video, labelled with both motions (OUT/list.txt).",
    ),
    force: bool = FORCE_OPTION,
) -> None:
    """Write a synthetic motion dataset: real h264 videos whose class is their motion.

    Time-shifted test sets: --speed, --fps with --reference-fps, --drop and --duplicate.
    --multi-label: train on OUT/list.txt (path and 'a;b' labels).
    OUT must be new, empty or an earlier `data synth` output; the same command again is a
    no-op once the dataset is complete (and finishes an interrupted one)."""
    from motionfit.data.synthetic import OUTPUT_KIND, check_synth_dir, make_dataset
    from motionfit.output_dir import claim_output_dir

    height, width = parse_pair(size, "x", "--size", int)
    params: dict[str, Any] = dict(
        classes=classes,
        per_class=per_class,
        seed=seed,
        size=(height, width),
        frames=parse_pair(frames, "-", "--frames", int),
        fps=parse_pair(fps, "-", "--fps", float),
        shortcut=shortcut,
        speed=parse_pair(speed, "-", "--speed", float),
        reference_fps=reference_fps,
        drop=drop,
        duplicate=duplicate,
    )
    if multi_label:  # absent otherwise: single-label datasets keep their stored settings
        params["multi_label"] = True
    if check_synth_dir(out, force=force, **params):
        console.print(f"{out} already holds these {classes * per_class} videos; nothing to do")
        return
    claim_output_dir(out, OUTPUT_KIND)
    out = make_dataset(out, workers=workers, **params)
    console.print(f"wrote {classes * per_class} videos in {classes} classes to {out}")


@data_app.command("split")
def split(
    source: str = typer.Argument(..., help="Dataset (folder per class, list/CSV, split file)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train.txt, val.txt, labels.txt."),
    ratio: float = typer.Option(0.7, "--ratio", help="Fraction of each class kept for training."),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    fmt: str = typer.Option("auto", "--format", help="Dataset format (see data.format)."),
    video_root: str | None = typer.Option(None, "--video-root", help="Root of relative paths."),
    force: bool = FORCE_OPTION,
) -> None:
    """Stratified, group-aware split into list files that `motionfit train` reads."""
    from motionfit.data.records import read_records
    from motionfit.data.splits import split_to_dir

    if not 0.0 < ratio < 1.0:
        raise DataError(f"--ratio must be between 0 and 1, got {ratio}")
    train_list, val_list = split_to_dir(
        source, out, ratio=ratio, seed=seed, format=fmt, video_root=video_root, force=force
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
    video_root: str | None = typer.Option(None, "--video-root", help="Root of relative paths."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Videos and duration per class, frame-rate and resolution spread, unreadable files."""
    import json

    from rich.markup import escape
    from rich.table import Table

    from motionfit.data.inspect import inspect_dataset
    from motionfit.errors import without_path

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
        reason = without_path(bad["reason"], bad["video"])
        console.print(f"[red]unreadable[/red] {escape(bad['video'])}: {escape(reason)}")


@data_app.command("preview")
def preview(
    source: str = typer.Argument(..., help="A video, or a dataset (see --index)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    config: str | None = CONFIG_OPTION,
    overrides: list[str] | None = SET_OPTION,
    rows: int = typer.Option(4, "--rows", help="Augmented samples to draw."),
    index: int = typer.Option(0, "--index", help="Which video of a dataset."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """A grid of augmented samples of one video (rows) by frame (columns)."""
    from motionfit.config import load_config
    from motionfit.data.preview import pick_source, preview_grid
    from motionfit.models.data_config import resolve_model_defaults
    from motionfit.output_dir import check_output_file

    check_output_file(out, force=force, inputs=[source])
    cfg = resolve_model_defaults(load_config(config, overrides))
    picked = pick_source(source, index, cfg.data.format)
    path = preview_grid(
        picked.video, cfg, out, rows=rows, seed=seed, partner=picked.partner,
        class_names=picked.class_names,
    )  # fmt: skip
    console.print(f"wrote {path} ({rows} augmented samples of {picked.video})")


@data_app.command("prepare")
def prepare(
    source: str = typer.Argument(..., help="Dataset (folder per class, list/CSV, split file)."),
    out: str = typer.Argument(
        ..., help="New folder (or bucket URL) for the prepared copy (not inside SOURCE)."
    ),
    short_side: int = typer.Option(256, "--short-side", help="Scale the short side down to this."),
    gop: int = typer.Option(16, "--gop", help="Keyframe interval in frames."),
    crf: int = typer.Option(23, "--crf", help="x264 quality (18 visually lossless)."),
    fast_decode: bool = typer.Option(
        True, "--fast-decode/--no-fast-decode", help="x264 tune=fastdecode (~1.5x cheaper clips)."
    ),
    fps: float | None = typer.Option(None, "--fps", help="Constant frame rate (default: keep)."),
    workers: int = typer.Option(
        0, "--workers", min=0, help="Parallel processes (0 = one per CPU)."
    ),
    fmt: str = typer.Option("auto", "--format", help="Dataset format (see data.format)."),
    video_root: str | None = typer.Option(None, "--video-root", help="Root of relative paths."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into an OUT that holds other files, or prepare an OUT made with other "
        "settings again (never over the source).",
    ),
) -> None:
    """Transcode a dataset once into a fast-to-train copy (h264, short GOP, small, no audio).

    OUT must be new, empty or an earlier `data prepare` output. Resumable: run the same command
    again after an interruption (other settings need --force)."""
    from motionfit.data.prepare import PrepareSettings, prepare_dataset

    settings = PrepareSettings(
        short_side=short_side, gop=gop, crf=crf, fps=fps, fast_decode=fast_decode
    )
    result = prepare_dataset(
        source,
        out,
        settings,
        format=fmt,
        video_root=video_root,
        workers=workers or None,
        force=force,
    )
    console.print(
        f"prepared {result.prepared} videos, kept {result.reused} from an earlier run, "
        f"skipped {len(result.skipped)} unreadable"
        + (f" (listed in {result.manifest.parent / 'skipped.tsv'})" if result.skipped else "")
    )
    console.print(f"train on it: motionfit train --data {result.dataset} ...")


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
