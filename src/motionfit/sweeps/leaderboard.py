"""What a sweep reports: the leaderboard of its trials, parameter importances, the best config.

Everything is read from the Optuna study (values, parameters, and the per-trial scores each
worker stores as user attributes), so any worker of a shared study can write the report, even
for trials that ran on other machines.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich import box
from rich.table import Table

from motionfit.atomic import atomic_write_text
from motionfit.run import RunPaths, metric_columns, read_metrics

# Trial user attributes written by the sweep runner (see ``trial_scores``).
RUN_DIR = "run_dir"
ERROR = "error"
SCORE_KEYS = ("epochs", "best_epoch", "train_acc", "clean_train_acc", "val_top1", "gap")
MIN_TRIALS_FOR_IMPORTANCE = 2
FIXED_COLUMNS_WIDTH = 40  # trial, state, score, gap and epochs columns with their padding
_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.RUNNING: 2}


@dataclass
class TrialRow:
    """One trial of the leaderboard.

    ``value`` is the objective (the best ``train.monitor`` of a finished run); the scores are
    read at the run's best validation epoch, as in ``motionfit report``: ``gap`` is clean-train
    minus validation top-1 there. ``rank`` counts finished (complete) trials only.
    """

    rank: int | None
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    scores: dict[str, float | None]
    minutes: float | None
    run_dir: str
    error: str


def trial_scores(run_dir: Path) -> dict[str, float | None]:
    """Epochs trained and the accuracies at the best validation epoch of a (possibly
    unfinished) run, from its ``metrics.csv``."""
    history = metric_columns(read_metrics(RunPaths(Path(run_dir)).metrics))
    val = history.get("val_top1", [])
    finite = [(v, i) for i, v in enumerate(val) if math.isfinite(v)]
    scores: dict[str, float | None] = dict.fromkeys(SCORE_KEYS)
    scores["epochs"] = len(history.get("epoch", []))
    if not finite:
        return scores
    best = max(finite, key=lambda item: (item[0], -item[1]))[1]
    scores["best_epoch"] = history["epoch"][best]
    for key in ("train_acc", "clean_train_acc", "val_top1"):
        value = history.get(key, [math.nan] * len(val))[best]
        scores[key] = value if math.isfinite(value) else None
    if scores["clean_train_acc"] is not None and scores["val_top1"] is not None:
        scores["gap"] = scores["clean_train_acc"] - scores["val_top1"]
    return scores


def leaderboard(study: optuna.Study) -> list[TrialRow]:
    """Every trial of ``study``: complete ones best first, then pruned (by their validation
    score), running and failed ones."""
    trials = study.get_trials(deepcopy=False)
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE

    def order(trial: FrozenTrial) -> tuple[int, float, int]:
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            key = -trial.value if maximize else trial.value
        else:
            score = trial.user_attrs.get("val_top1")
            key = math.inf if score is None else -score
        return _STATE_ORDER.get(trial.state, 3), key, trial.number

    rows = []
    rank = 0
    for trial in sorted(trials, key=order):
        if trial.state == TrialState.COMPLETE:
            rank += 1
        duration = trial.duration.total_seconds() / 60 if trial.duration else None
        rows.append(
            TrialRow(
                rank=rank if trial.state == TrialState.COMPLETE else None,
                number=trial.number,
                state=trial.state.name.lower(),
                value=trial.value if trial.state == TrialState.COMPLETE else None,
                params=dict(trial.params),
                scores={key: trial.user_attrs.get(key) for key in SCORE_KEYS},
                minutes=duration,
                run_dir=str(trial.user_attrs.get(RUN_DIR, "")),
                error=str(trial.user_attrs.get(ERROR, "")),
            )
        )
    return rows


def write_leaderboard(
    rows: Sequence[TrialRow], path: Path, monitor: str, param_keys: Sequence[str]
) -> Path:
    """Write the leaderboard as CSV: rank, trial, state, the monitored value, the scores at
    the best epoch, minutes, one column per searched field, run directory and error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["rank", "trial", "state", monitor, *SCORE_KEYS, "minutes", *param_keys, "run_dir", "error"]
    )
    for row in rows:
        writer.writerow(
            [
                _cell(row.rank),
                row.number,
                row.state,
                _cell(row.value),
                *(_cell(row.scores.get(key)) for key in SCORE_KEYS),
                _cell(row.minutes),
                *(_cell(row.params.get(key)) for key in param_keys),
                row.run_dir,
                row.error,
            ]
        )
    return atomic_write_text(path, buffer.getvalue())


def write_importance_plot(study: optuna.Study, path: Path) -> Path | None:
    """Plot Optuna's parameter importances (its default evaluator) for the objective; None
    while fewer than two trials are complete (importances need at least two)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from optuna.visualization.matplotlib import plot_param_importances

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = plot_param_importances(study)
    figure = axes.figure
    assert isinstance(figure, Figure)  # plot_param_importances draws on a figure of its own
    figure.set_size_inches(8, 1.6 + 0.45 * len(complete[0].params))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def leaderboard_table(
    rows: Sequence[TrialRow], monitor: str, title: str, width: int = 80, limit: int = 20
) -> Table:
    """The first ``limit`` trials as a rich table that fits ``width`` columns: one column per
    searched field when they fit, else the fields folded into one ``params`` column."""
    keys = list(dict.fromkeys(k for row in rows for k in row.params))
    names = [k.split(".")[-1] for k in keys]
    if len(set(names)) < len(names):
        names = keys
    values = [[_short(row.params.get(k)) for k in keys] for row in rows[:limit]]
    fixed = ["#", "state", monitor.split("/")[-1], "gap pt", "ep"]
    widths = [max([len(n), *(len(v[i]) for v in values)]) for i, n in enumerate(names)]
    fits = sum(widths) + 3 * len(widths) + FIXED_COLUMNS_WIDTH <= width
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for column in fixed:
        table.add_column(column, justify="left" if column == "state" else "right", no_wrap=True)
    for column in names if fits else ["params"]:
        table.add_column(column, justify="right" if fits else "left", overflow="fold")
    for row, params in zip(rows[:limit], values, strict=True):
        gap = row.scores.get("gap")
        cells = (
            params if fits else [" ".join(f"{n}={v}" for n, v in zip(names, params, strict=True))]
        )
        table.add_row(
            str(row.number),
            row.state,
            "" if row.value is None else f"{row.value:.4f}",
            "" if gap is None else f"{gap * 100:+.1f}",
            str(row.scores.get("epochs") or ""),
            *cells,
        )
    return table


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
