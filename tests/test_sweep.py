"""Sweeps on Optuna with real training runs on generated h264 videos: the space file and its
errors, a 2-trial sweep through the CLI (leaderboard, best config, importance plot, per-epoch
reports) and its resumption, pruning, and a failing trial in a grid search."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
from run_fixtures import assert_informative_png

from motionfit.cli.main import main
from motionfit.config import load_config
from motionfit.data.synthetic import make_dataset
from motionfit.errors import ConfigError
from motionfit.run import read_metrics
from motionfit.sweeps import load_space, parse_space, run_sweep
from motionfit.sweeps.space import check_space

FAST = [
    "data.num_workers=0",
    "train.batch_size=4",
    "train.clean_train_videos=4",
    "train.log_every_n_steps=1",
    "eval.batch_size=8",
    "output.tensorboard=false",
    "output.plots=false",
    "augment.flip_label_map={move_left: move_right}",
]
SPACE = """\
optim.lr: {type: loguniform, low: 1.0e-3, high: 3.0e-3}
model.dropout: {type: uniform, low: 0.0, high: 0.5}
sampling.jitter_prob: {type: choice, values: [0.0, 0.4]}
"""


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """4 motion classes x 6 real h264 videos (16-20 frames, 32x32)."""
    root = tmp_path_factory.mktemp("videos")
    return make_dataset(root / "synth", classes=4, per_class=6, size=(32, 32), frames=(16, 20))


def _base(videos: Path, *overrides: str):
    return load_config("demo", [f"data.source={videos}", *FAST, *overrides])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_shipped_space_holds_the_seed_ranges():
    space = load_space()
    spec = space.to_dict()
    assert spec["optim.weight_decay"] == {
        "type": "loguniform", "low": 0.01, "high": 0.2, "points": 3,
    }  # fmt: skip
    assert spec["train.label_smoothing"]["low"] == 0.0
    assert spec["train.label_smoothing"]["high"] == 0.2
    assert (spec["optim.lr"]["low"], spec["optim.lr"]["high"]) == (1e-4, 1e-3)
    assert (spec["model.dropout"]["low"], spec["model.dropout"]["high"]) == (0.3, 0.6)
    assert spec["sampling.jitter_prob"]["values"] == [0.0, 0.2, 0.4]
    check_space(space, load_config("demo"))
    grid = space.grid()
    assert grid["optim.lr"] == pytest.approx([1e-4, 3.162e-4, 1e-3])  # geometric for log
    assert grid["model.dropout"] == pytest.approx([0.3, 0.45, 0.6])
    assert grid["sampling.jitter_max"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("optim.weight_decai: {type: uniform, low: 0, high: 1}", "unknown config key 'optim.w"),
        ("model.dropout: {type: uniform, low: 0.3, high: 1.5}", "'model.dropout'"),
        ("train.epochs: {type: uniform, low: 2, high: 9}", "integer field: use type: int"),
        ("optim.lr: {type: loguniform, low: 0, high: 1.0e-3}", "loguniform needs low > 0"),
        ("optim.lr: {type: uniform, lo: 0, high: 1}", "unknown setting"),
        ("optim.lr: {type: normal, low: 0, high: 1}", "needs {type: loguniform"),
        ("sampling.train_strides: {type: choice, values: [[1, 2]]}", "numbers, strings or null"),
        ("optim.lr: {type: uniform, low: 0.1, high: 0.01}", "must be <= high"),
    ],
)
def test_space_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=r"space\.yaml") as info:
        check_space(load_space(path), load_config("demo"))
    assert message in str(info.value)


def test_cli_sweep_runs_two_trials_reports_every_epoch_and_resumes(videos, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "sweep"
    argv = ["sweep", "--config", "demo", "--data", str(videos), "--space", str(space)]
    argv += ["--seed", "0", "--out", str(out), "--set", "train.epochs=2"]
    argv += [item for override in FAST for item in ("--set", override)]

    assert main([*argv, "--trials", "2"]) == 0
    printed = capsys.readouterr().out
    assert "trial 0000 complete" in printed and "trial 0001 complete" in printed
    rows = _rows(out / "leaderboard.csv")
    assert [r["state"] for r in rows] == ["complete", "complete"]
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert float(rows[0]["val/top1"]) >= float(rows[1]["val/top1"])
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{out / 'study.db'}")
    for row in rows:
        trial = study.trials[int(row["trial"])]
        assert 1e-3 <= float(row["optim.lr"]) <= 3e-3
        assert 0.0 <= float(row["model.dropout"]) <= 0.5
        assert float(row["sampling.jitter_prob"]) in (0.0, 0.4)
        history = read_metrics(Path(row["run_dir"]) / "metrics.csv")
        assert [h["epoch"] for h in history] == [0, 1]
        # the pruner saw the validation metric after every epoch
        reported = {h["epoch"]: h["val_top1"] for h in history}
        assert trial.intermediate_values == pytest.approx(reported, abs=1e-6)
        assert float(row["val/top1"]) == pytest.approx(max(h["val_top1"] for h in history))
        best = max(history, key=lambda h: (h["val_top1"], -h["epoch"]))
        assert float(row["gap"]) == pytest.approx(best["clean_train_acc"] - best["val_top1"])
        assert (Path(row["run_dir"]) / "model.safetensors").is_file()
        run_config = load_config(Path(row["run_dir"]) / "config.yaml")
        assert run_config.optim.lr == pytest.approx(trial.params["optim.lr"])

    best_config = load_config(out / "best_config.yaml")  # loads and validates
    best_trial = study.trials[int(rows[0]["trial"])]
    assert best_config.optim.lr == pytest.approx(best_trial.params["optim.lr"])
    assert best_config.model.dropout == pytest.approx(best_trial.params["model.dropout"])
    assert best_config.sampling.jitter_prob == best_trial.params["sampling.jitter_prob"]
    assert best_config.train.epochs == 2 and best_config.data.source == str(videos)
    assert_informative_png(out / "importance.png", min_width=300, min_height=100)

    # run again for 3 trials in total: only one more trial runs, the first two stay
    first = {r["run_dir"]: (Path(r["run_dir"]) / "metrics.csv").stat().st_mtime for r in rows}
    assert main([*argv, "--trials", "3"]) == 0
    rows = _rows(out / "leaderboard.csv")
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2"]
    assert (out / "trials" / "0002" / "model.safetensors").is_file()
    assert all((Path(d) / "metrics.csv").stat().st_mtime == t for d, t in first.items())
    assert main([*argv, "--trials", "3"]) == 0  # already complete: nothing to run
    assert len(_rows(out / "leaderboard.csv")) == 3


class _PruneEverything(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_a_pruned_trial_stops_after_the_epoch_and_keeps_its_metrics(videos, tmp_path):
    space = parse_space({"optim.lr": {"type": "loguniform", "low": 1e-3, "high": 3e-3}})
    out = tmp_path / "sweep"
    result = run_sweep(
        _base(videos, "train.epochs=3"), space, out, trials=1, seed=0, pruner=_PruneEverything()
    )
    [row] = result.rows
    assert row.state == "pruned" and row.rank is None and row.value is None
    history = read_metrics(out / "trials" / "0000" / "metrics.csv")
    assert [h["epoch"] for h in history] == [0]  # stopped after the first of 3 epochs
    assert row.scores["epochs"] == 1
    assert row.scores["val_top1"] == pytest.approx(history[0]["val_top1"])
    study = optuna.load_study(study_name="sweep", storage=result.storage)
    assert study.trials[0].intermediate_values == pytest.approx({0: history[0]["val_top1"]})
    assert result.best_config is None and result.importance_plot is None
    assert _rows(result.leaderboard)[0]["state"] == "pruned"


def test_a_failing_trial_is_recorded_and_the_grid_goes_on(videos, tmp_path):
    names = ["nosuchnet", "motioncnn_tiny"]
    space = parse_space({"model.name": {"type": "choice", "values": names}})
    result = run_sweep(
        _base(videos, "train.epochs=1"), space, tmp_path / "sweep", trials=2, sampler="grid", seed=0
    )
    assert [r.state for r in result.rows] == ["complete", "fail"]
    complete, failed = result.rows
    assert complete.params == {"model.name": "motioncnn_tiny"} and complete.rank == 1
    assert failed.params == {"model.name": "nosuchnet"} and "nosuchnet" in failed.error
    assert result.grid_exhausted
    assert load_config(result.best_config).model.name == "motioncnn_tiny"
    failed_row = next(r for r in _rows(result.leaderboard) if r["state"] == "fail")
    assert "nosuchnet" in failed_row["error"]


def test_cli_sweep_rejects_an_unknown_key_before_training(videos, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("optim.learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-3}\n")
    out = tmp_path / "sweep"
    code = main(["sweep", "--data", str(videos), "--space", str(space), "--trials", "2",
                 "--out", str(out), "--config", "demo"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "optim.learning_rate" in err and "space.yaml" in err
    assert not (out / "trials").exists()
