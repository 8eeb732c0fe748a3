"""Learning curves with the overfitting gap (``curves.png``)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from motionfit.atomic import atomic_write_bytes

ACCURACY_COLUMNS = ("train_acc", "clean_train_acc", "val_top1")


def plot_curves(rows: Sequence[dict[str, float]], path: str | Path | None = None) -> bytes:
    """Draw loss, accuracy and the clean-train - validation gap per epoch; only the loss when
    the rows have no accuracy columns (a pretraining run).

    ``rows`` are ``metrics.csv`` rows. Returns the PNG bytes; writes them to ``path`` (atomically)
    when given.
    """
    epochs = [r["epoch"] + 1 for r in rows]
    if not any(key in row for row in rows for key in ACCURACY_COLUMNS):
        fig, loss_ax = plt.subplots(1, 1, figsize=(6, 4), dpi=100)
        _loss_panel(loss_ax, epochs, rows)
        return _save(fig, path)
    fig, (loss_ax, acc_ax, gap_ax) = plt.subplots(1, 3, figsize=(14, 4), dpi=100)
    _loss_panel(loss_ax, epochs, rows)
    _line(acc_ax, epochs, rows, "train_acc", "train (augmented)", scale=100)
    _line(acc_ax, epochs, rows, "clean_train_acc", "clean train", scale=100)
    _line(acc_ax, epochs, rows, "val_top1", "validation top-1", scale=100)
    acc_ax.set(title="accuracy (%)", xlabel="epoch", ylim=(0, 101))
    gaps = [
        100 * (r["clean_train_acc"] - r["val_top1"])
        if not (math.isnan(r["clean_train_acc"]) or math.isnan(r["val_top1"]))
        else math.nan
        for r in rows
    ]
    gap_ax.plot(epochs, gaps, marker="o", color="tab:red")
    gap_ax.axhline(0, color="grey", linewidth=0.8)
    gap_ax.set(title="overfitting gap: clean train - validation (points)", xlabel="epoch")
    for ax in (acc_ax, gap_ax):
        _finish(ax)
    return _save(fig, path)


def _loss_panel(ax, epochs, rows) -> None:
    _line(ax, epochs, rows, "train_loss", "train (augmented)")
    _line(ax, epochs, rows, "val_loss", "validation")
    ax.set(title="loss", xlabel="epoch")
    _finish(ax)


def _finish(ax) -> None:
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _save(fig, path: str | Path | None) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    data = buffer.getvalue()
    if path is not None:
        atomic_write_bytes(path, data)
    return data


def _line(ax, epochs, rows, key, label, scale=1.0) -> None:
    values = [r.get(key, math.nan) * scale for r in rows]
    if any(not math.isnan(v) for v in values):
        ax.plot(epochs, values, marker="o", markersize=3, label=label)
