"""Figures of evaluations and runs: confusion matrix, learning curves, runs compared.

Built on ``matplotlib.figure.Figure`` (no pyplot state), so they work headless and in threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

ANNOTATE_MAX_CLASSES = 25  # print the percentage in each cell up to this many classes
# metrics.csv accuracy column, legend label, line style
ACCURACY_LINES = (
    ("train_acc", "train (augmented)", ":"),
    ("clean_train_acc", "clean train", "--"),
    ("val_top1", "validation", "-"),
)
MAP_LINES = (  # a multi-label run's: mean average precision (macro)
    ("clean_train_map", "clean train", "--"),
    ("val_map", "validation", "-"),
)


def confusion_figure(
    confusion: Sequence[Sequence[int]], class_names: Sequence[str], title: str = ""
) -> Figure:
    """Row-normalized confusion matrix (each row is a true class, summing to 1), rows and
    columns sorted by class accuracy, best first. Cell and font sizes follow the number of
    classes so that 100+ labels stay legible; classes without test videos are grey rows."""
    counts = np.asarray(confusion, dtype=np.float64)
    support = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / support[:, None]
    accuracy = np.where(support > 0, np.diag(rates), -1.0)
    order = np.argsort(-accuracy, kind="stable")
    rates = rates[np.ix_(order, order)]
    names = [class_names[i] for i in order]
    n = len(names)
    cell = float(np.clip(6.0 / n, 0.13, 0.6))  # inches per class
    font = float(np.clip(cell * 72 * 0.7, 5.0, 10.0))
    label_room = 0.5 + font / 72 * 0.62 * (max(len(name) for name in names) + 6)
    side = n * cell
    width, height = side + label_room + 1.5, side + label_room + 0.8
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(
        left=label_room / width, bottom=label_room / height, right=1 - 1.5 / width,
        top=1 - 0.8 / height,
    )  # fmt: skip
    ax = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(rates), cmap=_cmap(), vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    ax.set_xticks(range(n), names, rotation=90, fontsize=font)
    ax.set_yticks(
        range(n),
        [f"{name} ({int(support[i])})" for name, i in zip(names, order, strict=True)],
        fontsize=font,
    )
    ax.set_xlabel("predicted class", fontsize=max(font, 8))
    ax.set_ylabel("true class (test videos)", fontsize=max(font, 8))
    ax.tick_params(length=2, pad=1)
    if n <= ANNOTATE_MAX_CLASSES:
        for row in range(n):
            for col in range(n):
                value = rates[row, col]
                if np.isfinite(value) and value >= 0.005:
                    ax.text(
                        col,
                        row,
                        f"{value:.0%}",
                        ha="center",
                        va="center",
                        fontsize=font * 0.8,
                        color="white" if value > 0.55 else "black",
                    )
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("fraction of the true class", fontsize=8)
    ax.set_title(
        title or "confusion matrix (row-normalized, sorted by class accuracy)",
        fontsize=max(font, 9),
        loc="left",
    )
    return fig


def learning_curves_figure(history: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """Accuracy (train, clean-train, validation; the overfitting gap shaded) and loss per epoch
    from a run's ``metrics.csv`` columns (mAP instead of accuracy for a multi-label run); only
    the loss when there are no accuracy columns (a pretraining run)."""
    epochs = np.asarray(history["epoch"], dtype=float)
    lines, ylabel = (MAP_LINES, "mAP") if "val_map" in history else (ACCURACY_LINES, "accuracy")
    if not any(column in history for column, _, _ in lines):
        fig = Figure(figsize=(4.5, 3.4), dpi=100, layout="constrained")
        _loss_panel(fig.subplots(), epochs, history)
    else:
        fig = Figure(figsize=(9.0, 3.4), dpi=100, layout="constrained")
        acc_ax, loss_ax = fig.subplots(1, 2)
        _score_panel(acc_ax, epochs, history, lines, ylabel)
        _loss_panel(loss_ax, epochs, history)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _score_panel(
    ax: Axes,
    epochs: np.ndarray,
    history: Mapping[str, Sequence[float]],
    lines: Sequence[tuple[str, str, str]],
    ylabel: str,
) -> None:
    """The score curves of ``lines``; the gap between the last two (clean train, validation)
    shaded."""
    for column, label, style in lines:
        values = _column(history, column)
        if np.isfinite(values).any():
            ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
    clean, val = _column(history, lines[-2][0]), _column(history, lines[-1][0])
    both = np.isfinite(clean) & np.isfinite(val)
    if both.any():
        ax.fill_between(epochs, val, clean, where=both, color="tab:red", alpha=0.15, label="gap")
    ax.set(xlabel="epoch", ylabel=ylabel, ylim=(0.0, 1.02))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)


def _loss_panel(ax: Axes, epochs: np.ndarray, history: Mapping[str, Sequence[float]]) -> None:
    for column, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = _column(history, column)
        if np.isfinite(values).any():
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
    ax.set(xlabel="epoch", ylabel="loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)


def _legend(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def runs_figure(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> Figure:
    """Validation (solid) and clean-train (dashed) accuracy of several runs on one plot."""
    fig = Figure(figsize=(9.0, 4.0), dpi=100, layout="constrained")
    ax = fig.subplots()
    for index, (name, history) in enumerate(histories.items()):
        color = f"C{index % 10}"
        epochs = np.asarray(history["epoch"], dtype=float)
        ax.plot(epochs, _column(history, "val_top1"), "-", color=color, marker="o",
                markersize=3, label=f"{name} validation")  # fmt: skip
        clean = _column(history, "clean_train_acc")
        if np.isfinite(clean).any():
            ax.plot(epochs, clean, "--", color=color, alpha=0.7, label=f"{name} clean train")
    ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0.0, 1.02))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, ncols=max(1, math.ceil(len(histories) / 6)))
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.15)
    return buffer.getvalue()


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write the figure as a PNG file; returns the path."""
    path = Path(path)
    path.write_bytes(png_bytes(fig))
    return path


def _column(history: Mapping[str, Sequence[float]], column: str) -> np.ndarray:
    values = history.get(column)
    if values is None:
        return np.full(len(history["epoch"]), np.nan)
    return np.asarray(values, dtype=float)


def _cmap():
    from matplotlib import colormaps

    return colormaps["Blues"].with_extremes(bad="#e0e0e0")
