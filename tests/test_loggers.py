"""Experiment trackers through Lightning's loggers (output.loggers), offline: MLflow to a local
SQLite store, Weights & Biases offline, CSV; on a real 1-epoch run of the tiny motion CNN."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_fixtures import make_videos, tiny_config

from motionfit.config import OutputConfig
from motionfit.errors import ConfigError
from motionfit.train import loggers as loggers_module
from motionfit.train.loggers import build_loggers

pytest.importorskip("mlflow", reason="the optional extra motionfit[track] is not installed")
pytest.importorskip("wandb", reason="the optional extra motionfit[track] is not installed")


def test_one_run_logs_to_csv_mlflow_and_wandb_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from motionfit.train.fit import train

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    data = make_videos(tmp_path / "videos", classes=3, per_class=4)
    config = tiny_config(
        data,
        extra=[
            "train.epochs=1",
            "train.batch_size=4",
            "output.loggers=[tensorboard, csv, mlflow, wandb]",
            "output.tensorboard=false",
            "output.wandb_mode=offline",
            "output.project=motionfit-tests",
        ],
    )
    run = tmp_path / "run"
    train(config, run, progress=False)

    assert not (run / "tb").exists()  # output.tensorboard=false drops it
    assert "val/top1" in (run / "csv" / "metrics.csv").read_text().splitlines()[0]

    client = mlflow.tracking.MlflowClient(f"sqlite:///{(run / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("motionfit-tests")
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == "run"
    assert {"val/top1", "train/loss"} <= set(logged.data.metrics)

    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("run-*.wandb"))


def test_a_missing_tracker_package_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(loggers_module.EXTRA_PACKAGES, "wandb", "no_such_package_motionfit")
    with pytest.raises(ConfigError, match=r"pip install 'motionfit\[track\]'"):
        build_loggers(OutputConfig(loggers=["wandb"]), tmp_path)
    assert [type(x).__name__ for x in build_loggers(OutputConfig(), tmp_path)] == [
        "TensorBoardLogger"
    ]
