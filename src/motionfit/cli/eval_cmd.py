"""``motionfit evaluate | report | predict | export``: use a trained run directory."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from motionfit.cli.common import FORCE_OPTION, QUIET_OPTION, console, err_console
from motionfit.errors import DataError
from motionfit.output_dir import check_output_dir, check_output_file, claim_output_dir

CLIPS_OPTION = typer.Option(
    None, "--clips", help="Uniform clips per video (default: the run's eval.clips)."
)
CROPS_OPTION = typer.Option(
    None, "--crops", help="Spatial crops per clip, 1 or 3 (default: the run's eval.crops)."
)
WORKERS_OPTION = typer.Option(
    None, "--workers", min=0, help="DataLoader worker processes (default: data.num_workers)."
)
DEVICES_OPTION = typer.Option(
    1,
    "--devices",
    min=1,
    help="Split the videos over N devices: N GPUs with CUDA, else N CPU processes (results "
    "in input order, as with one).",
)


HF_EXPORT_KIND = "export-hf"  # the .motionfit marker of an export --format hf folder


class ExportFormat(str, Enum):
    """Formats of ``motionfit export``."""

    onnx = "onnx"
    torchscript = "torchscript"
    hf = "hf"


class ExportPrecision(str, Enum):
    """Weight precisions of ``motionfit export --format onnx``."""

    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


def evaluate(
    target: Path = typer.Argument(..., help="Run directory, or a checkpoint inside one."),
    data: str = typer.Option(..., "--data", help="Labeled test data (folder, list, split file)."),
    clips: int | None = CLIPS_OPTION,
    crops: int | None = CROPS_OPTION,
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: RUN_DIR/eval)."),
    data_format: str = typer.Option("auto", "--format", help="Format of --data (data.format)."),
    video_root: str | None = typer.Option(
        None, "--video-root", help="Folder the paths of a list file are relative to."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="Clips per batch (default: eval.batch_size)."
    ),
    workers: int | None = WORKERS_OPTION,
    devices: int = DEVICES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json instead of a table."),
    diagnose: bool = typer.Option(
        False,
        "--diagnose",
        help="Also score every view frozen, shuffled and reversed: does the model read motion "
        "or appearance? (metrics.json 'diagnostics')",
    ),
    force: bool = FORCE_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Multi-view test of a trained run: top-1/top-5, mean class accuracy, per-class scores,
    confusion matrix. Writes metrics.json, confusion.png, per_class.csv and mistakes.csv.
    A multi-label run: mAP (macro, micro), per-class AP and F1 at the run's thresholds
    (metrics.json, per_class.csv). Classes are matched to the run's by name."""
    from motionfit.data.records import read_records
    from motionfit.devices import inference_devices
    from motionfit.evaluation import align_labels, eval_dir, evaluate_run
    from motionfit.resources import check_eval_memory
    from motionfit.run import load_run

    _check_views(clips, crops)
    inference_devices(devices)  # too many GPUs: an error before anything is read
    run = load_run(target)
    check_eval_memory(run.config, clips, crops, batch_size)
    if out is not None and out.resolve() == eval_dir(run.paths).resolve():
        out = None  # the default, RUN_DIR/eval, belongs to the run
    if out is not None:
        inputs = [data, video_root, run.paths.root]
        check_output_dir(out, "evaluate", force=force, inputs=inputs)
    records, labels = read_records(data, data_format, video_root)
    records = align_labels(records, labels, run.labels, data)
    out_dir = claim_output_dir(out, "evaluate") if out is not None else eval_dir(run.paths)
    result = evaluate_run(
        run,
        records,
        clips=clips,
        crops=crops,
        out_dir=out_dir,
        batch_size=batch_size,
        num_workers=workers,
        data_name=data,
        diagnose=diagnose or None,
        devices=devices,
    )
    _report_unreadable([(u["video"], u["reason"]) for u in result["unreadable"]])
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("metric", "value", title=f"{run.config.model.name} on {data}")
    for label, key in _score_rows(result):
        table.add_row(label, f"{result[key]:.2%}")
    table.add_row("videos", str(result["num_videos"]))
    table.add_row("views per video", f"{result['clips']} clips x {result['crops']} crops")
    console.print(table)
    if "diagnostics" in result:
        print_diagnostics(result)
    written = (
        "metrics.json, per_class.csv"
        if result.get("multi_label")
        else ("metrics.json, confusion.png, per_class.csv, mistakes.csv")
    )
    console.print(f"wrote {written} to {out_dir}")


def _score_rows(result: dict) -> tuple[tuple[str, str], ...]:
    """(label, metrics.json key) of the scores ``evaluate`` prints."""
    if result.get("multi_label"):
        return (
            ("mAP (macro)", "map_macro"),
            ("mAP (micro)", "map_micro"),
            ("F1 at the thresholds (macro)", "f1_macro"),
            ("exact label-set match", "exact_match"),
        )
    return (
        ("top-1 (video)", "top1"),
        (f"top-{result['top_k']}", "top5"),
        ("mean class accuracy", "mean_class_accuracy"),
        ("top-1 (single clip)", "clip_top1"),
        ("macro F1", "macro_f1"),
    )


def print_diagnostics(metrics: dict) -> None:
    """The motion-reliance diagnostics of a ``metrics.json`` dict as a table and its reading
    (a multi-label run: mAP, and agreement = the same predicted label set)."""
    score, key = ("mAP", "map") if metrics.get("multi_label") else ("top-1", "top1")
    normal = metrics["map_macro"] if metrics.get("multi_label") else metrics["top1"]
    table = Table("view", score, "agreement with normal views", title="motion reliance")
    table.add_row("normal", f"{normal:.1%}", "")
    for name, scores in metrics["diagnostics"].items():
        table.add_row(name, f"{scores[key]:.1%}", f"{scores['agreement']:.1%}")
    console.print(table)
    console.print(escape(metrics["diagnostics_reading"]))


def report(
    runs: list[Path] = typer.Argument(..., help="Run directories to compare."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write."),
    test: str | None = typer.Option(
        None, "--test", help="Evaluate every run on this data first (rewrites RUN_DIR/eval)."
    ),
    clips: int | None = CLIPS_OPTION,
    crops: int | None = CROPS_OPTION,
    workers: int | None = WORKERS_OPTION,
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """One self-contained HTML page comparing runs: accuracies and overfitting gap, learning
    curves, confusion matrices and the config differences."""
    from motionfit.report import build_report

    _check_views(clips, crops)
    check_output_file(out, force=force, inputs=[*runs, test])
    path = build_report(runs, out, test=test, clips=clips, crops=crops, num_workers=workers)
    console.print(f"wrote {path}")


def predict(
    targets: list[str] = typer.Argument(
        ...,
        help="Video files, folders of videos (searched recursively) or list files (.txt/.lst: "
        "a path per line; .csv: a path or video column); local paths or URLs (s3://, ...).",
    ),
    run_dir: Path = typer.Option(..., "--run", help="Run directory (or a checkpoint in one)."),
    top_k: int = typer.Option(5, "--top-k", min=1, help="Classes to show per video."),
    window: float | None = typer.Option(
        None, "--window", min=0.001, help="Seconds per window: print a timeline of each video."
    ),
    hop: float | None = typer.Option(
        None, "--hop", min=0.001, help="Seconds between windows (default: --window)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Also write the results: .csv or .jsonl (a row per video or window, unreadable "
        "videos with their error) or .json.",
    ),
    clips: int | None = CLIPS_OPTION,
    crops: int | None = CROPS_OPTION,
    workers: int = typer.Option(0, "--workers", min=0, help="DataLoader worker processes."),
    devices: int = DEVICES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
    min_confidence: float = typer.Option(
        0.0,
        "--min-confidence",
        min=0.0,
        max=1.0,
        help="Answer 'unknown' when the top probability is below this (calibrated if the run "
        "has calibration.json: motionfit calibrate).",
    ),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Top-k classes with probabilities per video, with the run's own preprocessing (videos
    decoded by --workers processes and batched across videos); with --window, the top class of
    each window; --devices N splits the videos over N GPUs or CPU processes. Unreadable files
    are reported on stderr and the others go on (exit 0 if at least one video was read, else
    2)."""
    from motionfit.devices import inference_devices
    from motionfit.predict import (
        OUTPUT_SUFFIXES,
        find_videos,
        predict_timeline,
        predict_videos,
        write_predictions,
    )
    from motionfit.resources import check_eval_memory
    from motionfit.run import load_run

    _check_views(clips, crops)
    inference_devices(devices)
    if hop is not None and window is None:
        raise DataError("--hop needs --window")
    if out is not None and out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"--out must end in {', '.join(OUTPUT_SUFFIXES)}, got {out.name}")
    if out is not None:
        check_output_file(out, force=force, inputs=[*targets, run_dir])
    videos = find_videos(targets)
    run = load_run(run_dir)
    check_eval_memory(run.config, clips, crops, 1)
    options: dict[str, Any] = {
        "top_k": top_k,
        "clips": clips,
        "crops": crops,
        "num_workers": workers,
        "min_confidence": min_confidence,
        "devices": devices,
    }
    if window is None:
        result = predict_videos(run, videos, **options)
    else:
        result = predict_timeline(run, videos, window=window, hop=hop or window, **options)
    _report_unreadable([(str(v), why) for v, why in result.failed])
    if not result.predictions:
        raise DataError(f"none of the {len(videos)} videos could be read")
    if out is not None:
        write_predictions(result, out)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    elif window is None:
        for p in result.predictions:
            answer = f" -> {p.label}" if p.unknown else ""
            if p.above is not None:  # multi-label: the classes above their thresholds
                answer = f" -> {p.label or '(none above its threshold)'}"
            console.print(f"[bold]{escape(str(p.video))}[/bold]{answer}", highlight=False)
            for rank, score in enumerate(p.top, start=1):
                line = f"  {rank}. {score.label:<30} {score.probability:.3f}"
                console.print(line, markup=False, highlight=False)
    else:
        several = len({p.video for p in result.predictions}) > 1
        columns = ["start (s)", "end (s)", "top class", "probability"]
        table = Table(*(["video", *columns] if several else columns))
        for p in result.predictions:
            best = p.top[0]
            row = [f"{p.start:.2f}", f"{p.end:.2f}", p.label, f"{best.probability:.3f}"]
            table.add_row(*([p.video.name, *row] if several else row))
        console.print(table)
    if out is not None:
        err_console.print(f"wrote {out}")


def export(
    run_dir: Path = typer.Argument(..., help="Run directory (or a checkpoint in one)."),
    fmt: ExportFormat = typer.Option(
        ..., "--format", help="onnx, torchscript, or hf (a HuggingFace save_pretrained folder)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="File to write (its sidecar is FILE.json); a folder for hf."
    ),
    precision: ExportPrecision = typer.Option(
        ExportPrecision.fp32,
        "--precision",
        help="ONNX weights: fp32, fp16 (for GPU runtimes) or int8 (dynamic quantization).",
    ),
    push_to_hub: str | None = typer.Option(
        None,
        "--push",
        "--push-to-hub",
        help="With --format hf: also upload the folder to this Hub repo (needs network and a "
        "token: huggingface-cli login).",
    ),
    private: bool = typer.Option(False, "--private", help="A new --push repo is private."),
    force: bool = typer.Option(False, "--force", help="Replace an existing FILE and sidecar."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Export the model (float32 \\[batch, 3, T, S, S] -> logits, dynamic batch; dynamic
    frames for the CNNs) with a JSON sidecar of its preprocessing and labels, and check it
    against PyTorch. --format hf writes a folder that transformers loads
    (AutoModelForVideoClassification, for VideoMAE, TimeSformer, V-JEPA 2, VideoPrism; the
    other families: weights, config and labels for motionfit) with a model card."""
    from motionfit.run import load_run

    if fmt is ExportFormat.hf:
        if precision is not ExportPrecision.fp32:
            raise DataError("--precision is for ONNX exports; --format hf writes fp32 weights")
        _export_hf_folder(run_dir, out, force, push_to_hub, private)
        return
    if push_to_hub is not None:
        raise DataError("--push needs --format hf")
    from motionfit.export import export_run, sidecar_path

    for path in (out, sidecar_path(out)):
        check_output_file(path, force=force, inputs=[run_dir])
    run = load_run(run_dir)
    result = export_run(run, out, fmt.value, precision=precision.value)
    console.print(f"wrote {result.model_path} ({precision.value}) and {result.sidecar_path}")
    if result.max_abs_diff is None:
        console.print("not checked against PyTorch: onnxruntime is not installed")
    else:
        console.print(f"max |logit difference| vs PyTorch: {result.max_abs_diff:.2e}")


def _export_hf_folder(
    run_dir: Path, out: Path, force: bool, push_to_hub: str | None, private: bool
) -> None:
    """``export --format hf``: check the folder and that the model can be written faithfully,
    then claim the folder, write and verify it (and upload it with ``--push``)."""
    from transformers.utils import logging as transformers_logging

    from motionfit.hf_export import check_reproducible, export_hf, hf_layout
    from motionfit.hf_export import push_to_hub as upload
    from motionfit.run import load_run

    transformers_logging.disable_progress_bar()  # its per-file bars while writing and reloading
    check_output_dir(out, HF_EXPORT_KIND, force=force, inputs=[run_dir])
    run = load_run(run_dir)
    layout = hf_layout(run)
    if layout is not None:
        check_reproducible(run, layout)  # refused before the folder is claimed
    claim_output_dir(out, HF_EXPORT_KIND)
    result = export_hf(run, out)
    kind = result.architecture or "a motionfit run folder (transformers has no class for it)"
    console.print(f"wrote {result.out}: {kind}, with README.md (model card)")
    console.print(f"max |logit difference| vs PyTorch: {result.max_abs_diff:.2e}")
    if push_to_hub is not None:
        console.print(f"uploaded: {upload(out, push_to_hub, private=private)}")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate``, ``report``, ``predict``, ``export`` and ``calibrate`` commands to
    the root app."""
    app.command("evaluate")(evaluate)
    app.command("report")(report)
    app.command("predict")(predict)
    app.command("export")(export)
    app.command("calibrate")(calibrate)


def calibrate(
    run_dir: Path = typer.Argument(..., help="Run directory (or a checkpoint in one)."),
    data: str | None = typer.Option(
        None, "--data", help="Labeled validation data (default: the run's own validation split)."
    ),
    workers: int = typer.Option(0, "--workers", min=0, help="DataLoader worker processes."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Fit the temperature that makes the run's probabilities calibrated (0.8 = right 80% of
    the time) on validation videos; writes RUN/calibration.json, which predict then uses.
    Needs at least 20 videos and 3 wrong predictions among them. A multi-label run: one
    temperature per class, and the per-class thresholds chosen again (RUN/thresholds.json)."""
    from motionfit.calibration import calibrate_run, validation_source
    from motionfit.calibration_multi import calibrate_multi_label
    from motionfit.data.records import read_records
    from motionfit.evaluation import align_labels
    from motionfit.resources import check_eval_memory
    from motionfit.run import load_run

    run = load_run(run_dir)
    check_eval_memory(run.config)
    source = data or validation_source(run)
    records, labels = read_records(source, run.config.data.format, run.config.data.video_root)
    records = align_labels(records, labels, run.labels, source)
    if run.config.data.multi_label:
        multi = calibrate_multi_label(run, records, source, workers)
        console.print(
            f"{len(multi['temperatures'])} class temperatures on {multi['videos']} videos: BCE "
            f"{multi['before']['bce']:.3f} -> {multi['after']['bce']:.3f}; wrote "
            f"{run.paths.root / 'calibration.json'} and thresholds.json",
            highlight=False,
        )
        return
    result = calibrate_run(run, records, source, workers)
    before, after = result["before"], result["after"]
    console.print(
        f"temperature {result['temperature']:.3f} on {result['videos']} videos "
        f"({result['errors']} wrong): NLL "
        f"{before['nll']:.3f} -> {after['nll']:.3f}, ECE {before['ece']:.3f} -> "
        f"{after['ece']:.3f}; wrote {run.paths.root / 'calibration.json'}",
        highlight=False,
    )
    if result["bounded"]:
        err_console.print(f"note: {result['note']}", markup=False, highlight=False)


def _check_views(clips: int | None, crops: int | None) -> None:
    from motionfit.evaluation.inference import check_views

    check_views(1 if clips is None else clips, 1 if crops is None else crops)


def _report_unreadable(failed: list[tuple[str, str]]) -> None:
    from motionfit.errors import without_path

    for video, reason in failed:
        err_console.print(
            f"skipped unreadable video {video}: {without_path(reason, video)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
