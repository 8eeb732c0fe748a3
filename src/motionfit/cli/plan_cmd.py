"""``motionfit plan``: read the data once and write a training recipe made for it."""

from __future__ import annotations

from pathlib import Path

import typer

from motionfit.cli.common import FORCE_OPTION, console


def plan(
    data: str = typer.Argument(..., help="Labeled videos (folder per class, list/CSV, split)."),
    out: Path = typer.Option(Path("plan.yaml"), "--out", "-o", help="The recipe file to write."),
    gpu_memory: float | None = typer.Option(
        None,
        "--gpu-memory",
        min=0.5,
        help="Plan for a GPU with this much memory (GB); default: this machine's GPU, if any.",
    ),
    gpus: int | None = typer.Option(
        None,
        "--gpus",
        min=1,
        help="GPUs to train on (default: 1 with --gpu-memory, else all of this machine's); "
        "FSDP is planned when the model needs them.",
    ),
    cpu: bool = typer.Option(False, "--cpu", help="Plan for this machine's CPU, GPU or not."),
    hours: float | None = typer.Option(
        None, "--time-budget", min=0.001, help="Hours training may take (a CPU plan is timed)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Use this registered model instead of the planned one."
    ),
    fmt: str = typer.Option("auto", "--format", help="Dataset format (see data.format)."),
    video_root: str | None = typer.Option(None, "--video-root", help="Root of relative paths."),
    force: bool = FORCE_OPTION,
) -> None:
    """Read the data once (lengths, frame rates, sizes, classes) and this machine, and write a
    recipe whose every choice says why: model, clip frames and stride, crop, flips, batch,
    epochs, evaluation clips. Then: motionfit train --config PLAN --out RUN_DIR."""
    from motionfit.config import Config
    from motionfit.data.records import read_records
    from motionfit.errors import ConfigError
    from motionfit.models.registry import get_spec
    from motionfit.output_dir import check_output_file
    from motionfit.plan.fingerprint import fingerprint
    from motionfit.plan.machine import Machine, measure_epoch_seconds
    from motionfit.plan.rules import make_plan
    from motionfit.plan.write import write_plan

    if out.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"--out {out}: a plan is a recipe file; give it a .yaml name")
    check_output_file(out, force=force, inputs=[data])
    if model is not None:
        get_spec(model)  # an unknown name fails before the data is read
    if cpu and gpu_memory is not None:
        raise ConfigError("--cpu and --gpu-memory plan for different machines; give one")
    prints = fingerprint(data, fmt, video_root)
    records, _ = read_records(data, fmt, video_root)
    machine = Machine.here(gpu_memory, cpu, gpus)

    def timer(config: Config, steps: int, val_videos: int) -> float:
        return measure_epoch_seconds(config, records, steps, val_videos)

    result = make_plan(prints, machine, source=data, hours=hours, model=model, epoch_timer=timer)
    write_plan(result, prints, machine, out)
    console.print(
        f"plan: {result.value('model.name')}, {result.value('sampling.num_frames')} frames "
        f"at stride {result.value('sampling.stride')}, {result.value('augment.crop_size')} px, "
        f"{result.value('train.epochs')} epochs -> {out}\n"
        f"next: motionfit train --config {out} --out RUN_DIR",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the root app."""
    app.command("plan")(plan)
