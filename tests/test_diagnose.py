"""Motion-reliance diagnostics: frozen / shuffled / reversed views separate a model that reads
appearance from one that reads motion, on real encoded videos, and land in metrics.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from run_fixtures import assert_informative_png, make_run, make_videos, run_cli, tiny_config

from motionfit.data.augment import registered
from motionfit.data.preview import preview_grid
from motionfit.data.records import read_records
from motionfit.data.synthetic import _class_color, make_dataset
from motionfit.evaluation import evaluate_run
from motionfit.evaluation.diagnose import (
    DIAGNOSTICS,
    caveat,
    chance_margin,
    diagnostic_views,
    reading,
    shuffled_order,
)
from motionfit.report import build_report
from motionfit.run import LoadedRun, RunPaths

CLASSES = ["move_left", "move_right", "move_up", "move_down"]


class _Head(torch.nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes


class AppearanceModel(torch.nn.Module):
    """Reads only the clip's mean colour: the class whose shortcut colour is nearest."""

    def __init__(self, mean: tuple, std: tuple) -> None:
        super().__init__()
        self.head = _Head(len(CLASSES))
        colours = torch.stack([torch.as_tensor(_class_color(k, 4)) for k in range(4)])
        self.colours = (colours - torch.tensor(mean)) / torch.tensor(std)  # normalized

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        colour = video.mean(dim=(2, 3, 4))  # [B, 3]
        return -torch.cdist(colour, self.colours)


class MotionModel(torch.nn.Module):
    """Reads only motion: the mean velocity of the centroid of the frame differences."""

    def __init__(self) -> None:
        super().__init__()
        self.head = _Head(len(CLASSES))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        energy = (video[:, :, 1:] - video[:, :, :-1]).abs().mean(dim=1)  # [B, T-1, H, W]
        height, width = energy.shape[-2:]
        ys = torch.arange(height, dtype=torch.float32).view(1, 1, -1, 1)
        xs = torch.arange(width, dtype=torch.float32).view(1, 1, 1, -1)
        total = energy.sum(dim=(2, 3)).clamp_min(1e-6)
        cx = (energy * xs).sum(dim=(2, 3)) / total
        cy = (energy * ys).sum(dim=(2, 3)) / total
        moving = energy.sum(dim=(2, 3)) > 1e-3
        dx = torch.where(moving[:, 1:] & moving[:, :-1], cx[:, 1:] - cx[:, :-1], 0).mean(1)
        dy = torch.where(moving[:, 1:] & moving[:, :-1], cy[:, 1:] - cy[:, :-1], 0).mean(1)
        return torch.stack([-dx, dx, -dy, dy], dim=1)


class OneClassModel(torch.nn.Module):
    """A real network whose last bias outweighs its input: class 0 for every clip."""

    def __init__(self) -> None:
        super().__init__()
        self.head = _Head(len(CLASSES))
        self.linear = torch.nn.Linear(3, len(CLASSES))
        with torch.no_grad():
            self.linear.bias.copy_(torch.tensor([100.0, 0.0, 0.0, 0.0]))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.linear(video.mean(dim=(2, 3, 4)))


@pytest.fixture(scope="module")
def shortcut_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 direction classes whose background colour always gives the class away."""
    return make_dataset(
        tmp_path_factory.mktemp("shortcut"), classes=4, per_class=6, seed=5, size=(32, 32),
        frames=(20, 28), shortcut=1.0,
    )  # fmt: skip


def evaluate_with(model: torch.nn.Module, videos: Path, out: Path) -> dict:
    config = tiny_config(videos, extra=["sampling.stride=3", "eval.clips=1"])
    records, labels = read_records(videos)
    run = LoadedRun(RunPaths(out), config, labels, model, weights=out / "none")
    return evaluate_run(run, records, out_dir=out, diagnose=True, num_workers=0)


def test_diagnostics_separate_an_appearance_model_from_a_motion_model(
    shortcut_videos: Path, tmp_path: Path
) -> None:
    config = tiny_config(shortcut_videos)
    appearance = evaluate_with(
        AppearanceModel(config.augment.mean, config.augment.std), shortcut_videos, tmp_path / "a"
    )
    motion = evaluate_with(MotionModel(), shortcut_videos, tmp_path / "m")
    assert appearance["top1"] >= 0.9 and motion["top1"] >= 0.75  # both right on normal clips
    a, m = appearance["diagnostics"], motion["diagnostics"]
    assert set(a) == set(DIAGNOSTICS) and set(a["frozen"]) == {"top1", "agreement"}
    # appearance: every altered view keeps the prediction
    assert min(a[name]["agreement"] for name in DIAGNOSTICS) >= 0.9
    assert "relies on appearance" in appearance["diagnostics_reading"]
    # motion: frozen clips lose it (no motion: one constant answer), reversed clips flip it
    assert m["frozen"]["agreement"] <= 0.4 and m["frozen"]["top1"] <= 0.4
    assert m["reversed"]["agreement"] <= 0.2 and m["shuffled"]["agreement"] <= 0.6
    assert "reads motion" in motion["diagnostics_reading"]
    saved = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert saved["diagnostics"] == m
    assert saved["diagnostics_meaningful"] is True and saved["diagnostics_caveat"] is None


def test_diagnostics_of_a_model_that_answers_one_class_are_not_meaningful(
    shortcut_videos: Path, tmp_path: Path
) -> None:
    metrics = evaluate_with(OneClassModel(), shortcut_videos, tmp_path)
    assert metrics["diagnostics"]["frozen"]["agreement"] == 1.0 and metrics["top1"] == 0.25
    assert "NOT MEANINGFUL" in metrics["diagnostics_reading"]
    assert "relies on appearance" not in metrics["diagnostics_reading"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["diagnostics_meaningful"] is False
    assert saved["diagnostics_caveat"].startswith("the model predicts one class for 100% of")


def test_diagnostic_views_reuse_the_decoded_frames() -> None:
    video = torch.arange(2 * 1 * 3 * 6 * 2 * 2, dtype=torch.uint8).view(2, 1, 3, 6, 2, 2)
    views = diagnostic_views(video, keys=[7, 8], seed=0)
    assert torch.equal(views["frozen"][:, :, :, 0], video[:, :, :, 3])
    assert torch.equal(views["frozen"], views["frozen"][:, :, :, :1].expand_as(video))
    assert torch.equal(views["reversed"], video.flip(3))
    for b, key in enumerate([7, 8]):
        order = torch.as_tensor(shuffled_order(6, 0, key))
        assert torch.equal(views["shuffled"][b], video[b][:, :, order])
        assert not torch.equal(order, torch.arange(6))
    shared = views["frozen"].untyped_storage().data_ptr()
    assert shared == video.untyped_storage().data_ptr()  # a view, not a copy
    assert torch.equal(
        torch.as_tensor(shuffled_order(6, 0, 7)), torch.as_tensor(shuffled_order(6, 0, 7))
    )


def _scores(frozen: float) -> dict:
    return {n: {"top1": 0.1, "agreement": frozen} for n in DIAGNOSTICS}


def _predictions(videos: int, classes: int, correct: int, seed: int = 0) -> tuple:
    """Targets spread evenly over ``classes`` and predictions right on the first ``correct``
    videos, wrong (the next class) on the others: every class predicted about equally."""
    targets = torch.arange(videos) % classes
    predicted = torch.where(torch.arange(videos) < correct, targets, (targets + 1) % classes)
    return predicted, targets


def test_reading_names_the_verdict() -> None:
    good = _predictions(40, 8, correct=36)  # 90% top-1, every class predicted
    assert caveat(*good, 8) is None
    assert "relies on appearance" in reading(_scores(0.71), 8, *good)
    assert "frozen clips keep 71% of predictions" in reading(_scores(0.71), 8, *good)
    assert "reads motion" in reading(_scores(0.15), 8, *good)
    assert "both motion and appearance" in reading(_scores(0.35), 8, *good)
    assert reading(_scores(0.71), 8, *good) == (
        "frozen clips keep 71% of predictions (chance 12%): the model relies on appearance "
        "(agreement of shuffled 71%, reversed 71%)"
    )


def test_reading_of_a_one_class_model_is_not_meaningful() -> None:
    targets = torch.arange(40) % 4
    predicted = torch.zeros(40, dtype=torch.long)  # one answer for every video: top-1 25%
    line = reading(_scores(1.0), 4, predicted, targets)
    assert "relies on appearance" not in line
    assert line == (
        "frozen clips keep 100% of predictions (chance 25%): diagnostics NOT MEANINGFUL: the "
        "model predicts one class for 100% of the 40 videos, so any altered clip agrees with "
        "it that often whatever it reads"
    )
    # 80% of the answers one class is enough, even when all are right (a test set that is
    # mostly one class); 31 of 40 is read
    mostly = torch.tensor([0] * 32 + [1, 2, 3] * 2 + [1, 2])
    assert "one class for 80% of the 40 videos" in caveat(mostly, mostly, 4)
    fewer = torch.tensor([0] * 31 + [1, 2, 3] * 3)
    assert caveat(fewer, fewer, 4) is None


def test_reading_of_a_chance_level_model_is_not_meaningful() -> None:
    # 8 classes, 40 videos: chance 12.5%, margin max(0.1, 2 * sqrt(0.125 * 0.875 / 40)) = 10.5
    assert chance_margin(8, 40) == pytest.approx(0.1046, abs=1e-4)
    chance_level = _predictions(40, 8, correct=9)  # 22%: within the margin
    line = reading(_scores(0.2), 8, *chance_level)
    assert "NOT MEANINGFUL" in line and "reads motion" not in line
    assert "at chance on these 40 videos (top-1 22%, chance 12%; reading needs above 23%)" in line
    assert caveat(*_predictions(40, 8, correct=10), 8) is None  # 25%: above it, read
    # few videos: two standard errors decide (4 classes, 12 videos: 25% + 25%)
    assert chance_margin(4, 12) == pytest.approx(0.25)
    assert "at chance" in caveat(*_predictions(12, 4, correct=6), 4)
    assert caveat(*_predictions(12, 4, correct=7), 4) is None


def test_cli_evaluate_diagnose_writes_the_metrics_json_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    videos = make_videos(tmp_path / "videos", classes=3, per_class=3)
    run = make_run(tmp_path / "run", videos, train_steps=2, extra=["eval.diagnose=false"])
    code = run_cli(["evaluate", str(run), "--data", str(videos), "--diagnose", "--clips", "1",
                    "--out", str(tmp_path / "eval")])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for name in DIAGNOSTICS:
        assert 0.0 <= metrics["diagnostics"][name]["top1"] <= 1.0
        assert 0.0 <= metrics["diagnostics"][name]["agreement"] <= 1.0
    assert "motion reliance" in printed and "frozen clips keep" in printed
    # without --diagnose (and eval.diagnose off in the run) there are no diagnostics
    assert run_cli(["evaluate", str(run), "--data", str(videos), "--clips", "1",
                    "--out", str(tmp_path / "plain")]) == 0  # fmt: skip
    assert "diagnostics" not in json.loads((tmp_path / "plain" / "metrics.json").read_text())
    # the report shows the diagnostics of the run's own evaluation
    shutil.copytree(tmp_path / "eval", run / "eval")
    html = build_report([run], tmp_path / "report.html").read_text()
    assert "Motion reliance" in html and "frozen clips keep" in html
    for name in DIAGNOSTICS:
        assert f'<td class="l">{name}</td>' in html


def test_preview_shows_one_row_per_debiasing_augmentation(tmp_path: Path) -> None:
    videos = make_videos(tmp_path / "videos", classes=2, per_class=2)
    records, _ = read_records(videos)
    debias = [name for name, a in registered("batch").items() if a.needs_appearance]
    no_mix = ["augment.mix.p=0"]  # MixUp/CutMix draws its own row too
    plain = tiny_config(videos, extra=[*no_mix, *(f"augment.{k}.p=0" for k in debias)])
    debiased = tiny_config(videos, extra=[*no_mix, *(f"augment.{k}.p=0.5" for k in debias)])
    heights = []
    for name, config in (("plain", plain), ("debiased", debiased)):
        path = preview_grid(
            records[0].path, config, tmp_path / f"{name}.png", rows=1, partner=records[2].path
        )
        assert_informative_png(path)
        heights.append(Image.open(path).height)
    assert heights[1] > 2 * heights[0]  # 2 rows (eval, 1 sample) -> 5 rows
