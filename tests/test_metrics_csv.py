"""The one reader of a run's ``metrics.csv`` and the learning-curve figure drawn from it."""

from __future__ import annotations

import math
from pathlib import Path

from run_fixtures import assert_informative_png

from motionfit.evaluation.plots import learning_curves_figure, png_bytes
from motionfit.run import metric_columns, read_metrics


def test_read_metrics_gives_floats_int_positions_and_nan_for_gaps(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss,val_top1,lr\n0,12,1.5,,0.001\n1,24,1.25,oops,0.002\n")
    rows = read_metrics(path)
    assert [(r["epoch"], r["step"]) for r in rows] == [(0, 12), (1, 24)]
    assert all(isinstance(r["epoch"], int) and isinstance(r["step"], int) for r in rows)
    assert rows[1]["train_loss"] == 1.25
    assert math.isnan(rows[0]["val_top1"]) and math.isnan(rows[1]["val_top1"])
    columns = metric_columns(rows)
    assert list(columns) == ["epoch", "step", "train_loss", "val_top1", "lr"]
    assert columns["lr"] == [0.001, 0.002]


def test_a_missing_or_empty_metrics_file_has_no_rows(tmp_path: Path) -> None:
    assert read_metrics(tmp_path / "metrics.csv") == []
    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss\n")
    assert read_metrics(tmp_path / "metrics.csv") == []
    assert metric_columns([]) == {}


def test_learning_curves_of_a_pretraining_run_show_the_loss_alone() -> None:
    history = {
        "epoch": [0, 1, 2],
        "train_loss": [1.0, 0.8, 0.7],
        "val_loss": [1.1, math.nan, 0.9],
    }
    figure = learning_curves_figure(history)
    assert len(figure.axes) == 1 and figure.axes[0].get_ylabel() == "loss"
    assert_informative_png(png_bytes(figure))
    history["val_top1"] = [0.2, 0.3, 0.4]
    assert len(learning_curves_figure(history).axes) == 2
