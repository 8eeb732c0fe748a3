"""A one-line model summary for the start of training.

Lightning's own summary prints a layer table and "Total FLOPs: 0" (it counts FLOPs only with
an example input); ``motionfit models`` has the measured FLOPs, so training says just what the
run trains.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count
from rich.console import Console


class ParameterSummary(ModelSummary):
    """Print ``model: N trainable parameters of M (S MB)`` once, at the start of fitting."""

    def __init__(self) -> None:
        super().__init__(max_depth=1)

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int = 0,
        **summarize_kwargs: Any,
    ) -> None:
        """The one line, on stderr."""
        trainable = get_human_readable_count(int(trainable_parameters)).strip()
        total = get_human_readable_count(int(total_parameters)).strip()
        Console(stderr=True).print(
            f"model: {trainable} trainable parameters of {total} ({model_size:.1f} MB)",
            highlight=False,
        )
