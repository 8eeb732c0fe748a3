"""Experiment trackers through Lightning's loggers (output.loggers), offline: TensorBoard, CSV,
MLflow to a local SQLite store, Weights & Biases offline; on one real 1-epoch ``motionfit train
-q`` run of the tiny motion CNN with a test set: each tracker holds the run's flattened config,
effective peak LR and global batch, and its final metrics, and MLflow keeps quiet and inside
the run directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from run_fixtures import make_videos, run_cli, tiny_config

from motionfit.config import Config, OutputConfig, dump_config, load_config
from motionfit.errors import ConfigError
from motionfit.train import loggers as loggers_module
from motionfit.train.callbacks import peak_lr_line
from motionfit.train.loggers import build_loggers

pytest.importorskip("mlflow", reason="the optional extra motionfit[track] is not installed")
pytest.importorskip("wandb", reason="the optional extra motionfit[track] is not installed")

# train.batch_size=4 on one device: the global batch is 4, so the LR is scaled by 4/2
BATCH, BASE_BATCH = 4, 2


def test_a_quiet_run_gives_every_tracker_its_config_and_final_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.chdir(tmp_path)  # nothing may land in the current directory
    data = make_videos(tmp_path / "videos", classes=3, per_class=4)
    test = make_videos(tmp_path / "test", classes=3, per_class=1, seed=1)
    config = tiny_config(
        data,
        extra=[
            "train.epochs=1",
            f"train.batch_size={BATCH}",
            f"optim.base_batch_size={BASE_BATCH}",
            "output.loggers=[tensorboard, csv, mlflow, wandb]",
            "output.wandb_mode=offline",
            "output.project=motionfit-tests",
        ],
    )
    dump_config(config, tmp_path / "config.yaml")
    run = tmp_path / "run"
    argv = ["train", "-q", "-c", str(tmp_path / "config.yaml"), "--test", str(test)]
    capfd.readouterr()
    assert run_cli([*argv, "--out", str(run)]) == 0

    err = capfd.readouterr().err
    assert "INFO" not in err and "mlflow" not in err.lower() and "alembic" not in err, err
    assert "peak LR" not in err  # printed only with progress
    # Lightning's "Experiment ... not found. Creating it." goes to a stream capfd does not see
    assert not logging.getLogger("lightning.pytorch.loggers.mlflow").isEnabledFor(logging.WARNING)
    assert_tensorboard_holds(run / "tb", config)
    assert_mlflow_holds(run, config)
    csv_metrics = (run / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/top1", "best/val/top1", "test/top1"} <= set(csv_metrics)
    assert_holds_config(yaml.safe_load((run / "csv" / "hparams.yaml").read_text()), config)
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("run-*.wandb"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "run", "test", "videos"]


def assert_holds_config(params: dict, config: Config) -> None:
    """``params`` hold the config under dotted keys, the effective peak LR and global batch
    (values as numbers, or as text for MLflow)."""
    assert float(params["optim.lr"]) == pytest.approx(config.optim.lr)
    assert float(params["augment.mix.p"]) == pytest.approx(config.augment.settings("mix").p)
    assert int(params["train.epochs"]) == 1
    assert json.loads(params["augment.flip_label_map"]) == config.augment.flip_label_map
    assert float(params["optim.peak_lr"]) == pytest.approx(config.optim.lr * BATCH / BASE_BATCH)
    assert int(params["train.global_batch"]) == BATCH
    assert not any(key.startswith("augment.flip_label_map.") for key in params)


def assert_tensorboard_holds(tb: Path, config: Config) -> None:
    """hparams.yaml holds the config; the event files hold the hparams (the HPARAMS tab, with
    the best score as its metric) and the final test metrics."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    assert_holds_config(yaml.safe_load((tb / "hparams.yaml").read_text()), config)
    events = EventAccumulator(str(tb), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    hparams = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(hparams[metadata.SESSION_START_INFO_TAG])
    assert float(start.hparams["optim.peak_lr"].number_value) == pytest.approx(
        config.optim.lr * BATCH / BASE_BATCH
    )
    assert start.hparams["augment.mix.p"].number_value == pytest.approx(0.5)
    experiment = metadata.parse_experiment_plugin_data(hparams[metadata.EXPERIMENT_TAG])
    assert [m.name.tag for m in experiment.metric_infos] == ["best/val/top1"]
    assert {"val/top1", "best/val/top1", "test/top1"} <= set(events.Tags()["scalars"])


def assert_mlflow_holds(run: Path, config: Config) -> None:
    """The MLflow run holds the config as params, the training, best and test metrics, and
    keeps its artifacts inside the run directory."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(run / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("motionfit-tests")
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == "run"
    params = client.get_run(logged.info.run_id).data.params
    assert_holds_config(params, config)
    metrics = logged.data.metrics
    assert {"val/top1", "train/loss", "best/val/top1", "test/top1", "test/top5"} <= set(metrics)
    assert any(key.startswith("test/diagnostics/") for key in metrics)
    assert not {"test/diagnostics_meaningful", "test/per_class"} & set(metrics)
    assert Path(urlparse(logged.info.artifact_uri).path).is_relative_to(run.resolve())


def test_the_start_line_says_how_the_peak_lr_was_scaled() -> None:
    config = load_config("demo", ["optim.lr=1e-3", "optim.base_batch_size=256"])
    line = peak_lr_line(config.model_copy(), 2.5e-4, 64, 2)
    assert line.startswith("peak LR 0.00025 (optim.lr 0.001 x 64/256 optim.base_batch_size)")
    assert "global batch 64 = 32 per device x 2 device(s) x 1 accumulated" in line
    assert "(optim.lr)" in peak_lr_line(load_config("demo"), 0.002, 32, 1)


def test_a_missing_tracker_package_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(loggers_module.EXTRA_PACKAGES, "wandb", "no_such_package_motionfit")
    with pytest.raises(ConfigError, match=r"pip install 'motionfit\[track\]'"):
        build_loggers(OutputConfig(loggers=["wandb"]), tmp_path)
    assert [type(x).__name__ for x in build_loggers(OutputConfig(), tmp_path)] == [
        "TensorBoardLogger"
    ]
    no_tensorboard = OutputConfig(loggers=["tensorboard", "csv"], tensorboard=False)
    assert [type(x).__name__ for x in build_loggers(no_tensorboard, tmp_path)] == ["CSVLogger"]
