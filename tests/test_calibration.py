"""Temperature scaling cannot mislead: too few videos or errors are refused (exit 2, one line),
and the temperature stays in [T_MIN, T_MAX], saying so when the best one lies beyond."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from run_fixtures import make_run, make_videos, run_cli, tiny_config
from test_diagnose import AppearanceModel

from motionfit.calibration import (
    CALIBRATION_FILE,
    MIN_VIDEOS,
    T_MAX,
    T_MIN,
    apply_temperature,
    calibrate_run,
    fit_temperature,
)
from motionfit.data.records import read_records
from motionfit.data.synthetic import make_dataset
from motionfit.errors import DataError
from motionfit.run import LoadedRun, RunPaths


def _nll(probs: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    calibrated = apply_temperature(probs.double(), temperature)
    return float(torch.nn.functional.nll_loss(calibrated.log(), labels))


def test_fit_temperature_minimizes_the_nll_inside_its_bounds() -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(400, 4, generator=generator) * 3
    labels = torch.multinomial((logits / 2).softmax(dim=1), 1, generator=generator).squeeze(1)
    probs = logits.softmax(dim=1)  # over-confident: the best temperature is about 2
    temperature = fit_temperature(probs, labels)
    assert T_MIN < temperature < T_MAX and temperature == pytest.approx(2.0, rel=0.2)
    best = _nll(probs, labels, temperature)
    grid = torch.logspace(-1.3, 1.3, 400).tolist()
    assert best <= min(_nll(probs, labels, t) for t in grid) + 1e-9


def test_fit_temperature_is_bounded_when_the_nll_has_no_minimum() -> None:
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]] * 4)
    right = probs.argmax(dim=1)
    # all correct: the NLL falls as T -> 0 (unbounded, it reached 0.002 on a tiny split)
    assert fit_temperature(probs, right) == T_MIN
    assert apply_temperature(probs, T_MIN).max(dim=1).values.min() < 0.9999
    # always confidently wrong: the NLL falls as T -> infinity
    assert fit_temperature(probs, (right + 1) % 3) == T_MAX


@pytest.fixture(scope="module")
def shortcut_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 videos of 4 classes whose background colour gives the class away."""
    return make_dataset(
        tmp_path_factory.mktemp("shortcut"), classes=4, per_class=6, seed=5, size=(32, 32),
        frames=(20, 28), shortcut=1.0,
    )  # fmt: skip


class ConfidentlyWrong(AppearanceModel):
    """Right by colour, then shifted one class: every answer wrong and sure of itself."""

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return 20 * super().forward(video).roll(1, dims=1)


def _run(model: torch.nn.Module, videos: Path, root: Path) -> tuple[LoadedRun, list]:
    config = tiny_config(videos, extra=["sampling.stride=3", "eval.clips=1"])
    records, labels = read_records(videos)
    root.mkdir()
    return LoadedRun(RunPaths(root), config, labels, model, weights=root / "none"), records


def test_calibration_refuses_an_all_correct_split(shortcut_videos: Path, tmp_path: Path) -> None:
    config = tiny_config(shortcut_videos)
    model = AppearanceModel(config.augment.mean, config.augment.std)
    run, records = _run(model, shortcut_videos, tmp_path / "run")
    assert len(records) >= MIN_VIDEOS
    with pytest.raises(DataError, match="on 24 videos with 0 wrong predictions: calibration"):
        calibrate_run(run, records, "val")
    assert not (tmp_path / "run" / CALIBRATION_FILE).exists()


def test_calibration_records_a_bounded_temperature(shortcut_videos: Path, tmp_path: Path) -> None:
    config = tiny_config(shortcut_videos)
    model = ConfidentlyWrong(config.augment.mean, config.augment.std)
    run, records = _run(model, shortcut_videos, tmp_path / "run")
    result = calibrate_run(run, records, "val")
    assert (result["temperature"], result["bounded"], result["errors"]) == (T_MAX, True, 24)
    assert result["note"].startswith("the NLL is lowest above T=20, kept at that bound")
    assert json.loads((tmp_path / "run" / CALIBRATION_FILE).read_text()) == result


def test_cli_calibrate_on_a_tiny_split_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = make_videos(tmp_path / "videos", classes=3, per_class=4)
    run = make_run(tmp_path / "run", videos, train_steps=2)
    capsys.readouterr()
    assert run_cli(["calibrate", str(run), "--data", str(videos)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "on 12 videos with" in lines[0]
    assert f"needs at least {MIN_VIDEOS} labeled validation videos" in lines[0]
    assert not (run / CALIBRATION_FILE).exists()
