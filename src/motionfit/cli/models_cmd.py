"""``motionfit models`` and ``motionfit recommend``: the model zoo and where to start."""

from __future__ import annotations

import json
from enum import Enum

import typer
from rich.table import Table

from motionfit.cli.common import console

FLOPS_HELP = (
    "GFLOPs = billions of floating-point operations (2 x multiply-adds) of one forward pass of "
    "one clip at the model's default frames and size, measured with torch.utils.flop_counter."
)


WIDE_TABLE = 140  # terminal columns from which the text columns fit in the table


class Priority(str, Enum):
    """What matters most in ``motionfit recommend``."""

    accuracy = "accuracy"
    speed = "speed"
    stability = "stability"


def models(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the registered models: family, default clip, size, parameters, GFLOPs per clip,
    pretrained sources and when to use each. GFLOPs are 2 x multiply-adds."""
    from motionfit.models.cards import model_cards

    cards = model_cards()
    if as_json:
        typer.echo(json.dumps([card.to_dict() for card in cards], indent=2))
        return
    wide = console.width >= WIDE_TABLE
    table = Table(caption=FLOPS_HELP)
    table.add_column("model", no_wrap=True)
    for column in ("family", "frames x size", "params (M)", "GFLOPs/clip"):
        table.add_column(column)
    if wide:
        table.add_column("pretrained", overflow="fold")
        table.add_column("use this if")
    for card in cards:
        row = [
            card.name + (" (tiny)" if card.tiny else ""),
            card.family,
            f"{card.frames} x {card.size}",
            f"{card.params_m:.1f}",
            f"{card.gflops:.1f}" if card.gflops >= 1 else f"{card.gflops:.2f}",
        ]
        if wide:
            row += ["\n".join(card.pretrained) or "-", card.use_if]
        table.add_row(*row)
    console.print(table)
    if not wide:  # a narrow terminal: the long text columns as a list below the numbers
        for card in cards:
            weights = ", ".join(card.pretrained) or "none (random init)"
            console.print(f"[bold]{card.name}[/bold]: {card.use_if}. Weights: {weights}.")


def recommend(
    labeled_videos: int = typer.Option(..., "--labeled-videos", min=1, help="Labeled videos."),
    frames: int = typer.Option(16, "--frames", min=1, help="Frames per clip you want."),
    gpu_memory: float = typer.Option(..., "--gpu-memory", min=0.5, help="Memory of one GPU in GB."),
    gpus: int = typer.Option(
        1, "--gpus", min=1, help="GPUs to train on (FSDP is proposed when a model needs them)."
    ),
    priority: Priority = typer.Option(Priority.accuracy, "--priority", help="What matters most."),
    data: str = typer.Option(
        "DATA",
        "--data",
        help="Training data to put in the printed commands; only text, never read (the class "
        "count comes from --classes alone).",
    ),
    classes: int | None = typer.Option(
        None,
        "--classes",
        min=2,
        help="Number of classes (2 up to --labeled-videos); no data needed, for planning. "
        "Labeled videos per class decide between a frozen-backbone probe, LoRA and full "
        "fine-tuning; without it 10 classes are assumed and the advice says so.",
    ),
) -> None:
    """Recommend the model, size and recipe to start from, with the reason and a ready
    'motionfit train' command. Memory figures are rules-of-thumb estimates. Nothing is read
    from disk: describe the data with --labeled-videos and --classes."""
    from motionfit.models.recommend import format_recommendation
    from motionfit.models.recommend import recommend as recommend_model

    if classes is not None and classes > labeled_videos:
        raise typer.BadParameter(
            f"{classes} classes need at least {classes} labeled videos, "
            f"--labeled-videos is {labeled_videos}",
            param_hint="'--classes'",
        )
    rec = recommend_model(
        labeled_videos, frames, gpu_memory, priority.value, data=data, classes=classes, gpus=gpus
    )
    typer.echo(format_recommendation(rec))


def register(app: typer.Typer) -> None:
    """Add the ``models`` and ``recommend`` commands to the root app."""
    app.command("models")(models)
    app.command("recommend")(recommend)
