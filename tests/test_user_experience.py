"""What a new user meets first: recipes on their own data, load reports, recommend, small
CLI details (issue 13). Real encoded videos, tiny real models."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shlex
import shutil
import warnings
from pathlib import Path

import av
import pytest
import torch
import yaml
from run_fixtures import make_run, make_videos, run_cli

from motionfit.config import Config, list_recipes, load_config
from motionfit.data.guard import AugmentationWarning
from motionfit.errors import ConfigError, ModelError
from motionfit.models.registry import ModelSpec, get_spec, list_specs
from motionfit.run import RunPaths
from motionfit.train.datamodule import VideoDataModule

PRETRAIN_RECIPES = {"videomae_pretrain", "videomae_tiny_pretrain"}
ANY_NAMES = ("Jumping Jacks", "wave", "kick_ball")


@pytest.fixture(scope="module")
def any_names_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes of real h264 clips whose names are none of the synthetic set's."""
    source = make_videos(tmp_path_factory.mktemp("synth"), classes=3, per_class=4)
    out = tmp_path_factory.mktemp("anynames")
    folders = sorted(p for p in source.iterdir() if p.is_dir())
    for folder, name in zip(folders, ANY_NAMES, strict=True):
        shutil.copytree(folder, out / name)
    return out


def tiny_overrides(data: Path) -> list[str]:
    """Any recipe on ``data``, shrunk to the tiny motion CNN (8 frames at 32 px), on the CPU."""
    return [
        "model.name=motioncnn_tiny",
        "model.pretrained=null",
        "augment.crop_size=32",
        "sampling.num_frames=8",
        f"data.source={data}",
        "data.num_workers=0",
        "train.batch_size=4",
        "train.accelerator=cpu",
        "train.devices=1",
        "eval.batch_size=4",
    ]


@pytest.mark.parametrize("recipe", sorted(set(list_recipes()) - PRETRAIN_RECIPES))
def test_every_recipe_trains_on_any_class_names(
    recipe: str, any_names_data: Path, tmp_path: Path
) -> None:
    from motionfit.train.fit import train

    tiny = _tiny_of_family(load_config(recipe).model.name)
    shrink = [
        f"model.name={tiny.name}",
        f"augment.crop_size={tiny.default_size}",
        f"sampling.num_frames={tiny.default_frames}",
    ]
    overrides = [*tiny_overrides(any_names_data), *shrink, "train.epochs=1"]
    config = load_config(recipe, overrides)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AugmentationWarning)
        result = train(config, tmp_path / "run", progress=False)
    assert result.steps >= 1
    notes = [str(w.message) for w in caught if "this data lacks" in str(w.message)]
    assert len(notes) == (1 if config.augment.flip_label_map else 0), notes
    labels = (tmp_path / "run" / "labels.txt").read_text().split("\n")
    assert sorted(filter(None, labels)) == sorted(ANY_NAMES)


def _tiny_of_family(name: str) -> ModelSpec:
    """The model itself when it is a tiny one, else the first tiny model of its family (the
    recipe's head, freezing and optimizer settings then apply to a CPU-sized model)."""
    spec = get_spec(name)
    if spec.tiny:
        return spec
    return next(s for s in list_specs() if s.tiny and s.family == spec.family)


def test_a_flip_map_the_user_writes_stays_strict(any_names_data: Path, tmp_path: Path) -> None:
    user_map = "augment.flip_label_map={move_left: move_right}"
    config = load_config("demo", [*tiny_overrides(any_names_data), user_map])
    assert config.augment.flip_label_map_unknown == "error"
    with pytest.raises(ConfigError, match="unknown class 'move_left'"):
        VideoDataModule(config, RunPaths(tmp_path / "a")).prepare_records()

    file = tmp_path / "mine.yaml"
    file.write_text("extends: demo\naugment:\n  flip_label_map: {wave: kick_ball}\n")
    config = load_config(file, tiny_overrides(any_names_data))
    assert config.augment.flip_label_map_unknown == "error"
    datamodule = VideoDataModule(config, RunPaths(tmp_path / "b"))
    datamodule.prepare_records()
    names = datamodule.labels.names
    assert datamodule.flip_map == {
        names.index("wave"): names.index("kick_ball"),
        names.index("kick_ball"): names.index("wave"),
    }


def test_init_from_prints_and_keeps_the_load_report(
    any_names_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from motionfit.train.fit import train

    source = make_run(tmp_path / "source", make_videos(tmp_path / "four", classes=4, per_class=2))
    config = load_config("demo", [*tiny_overrides(any_names_data), "train.max_steps=1"])
    config.train.patience = 0
    train(config, tmp_path / "run", init_from=source, progress=True)
    report = json.loads((tmp_path / "run" / "load_report.json").read_text())
    assert report["counts"]["new"] == 2  # the 4-class head's weight and bias start fresh
    assert report["counts"]["loaded"] > 10 and report["counts"]["missing"] == 0
    assert all(name.startswith("head.") for name in report["new"])
    text = (tmp_path / "run" / "load_report.txt").read_text()
    assert "loaded" in text and "new" in text and str(source) in text
    assert text.splitlines()[1] in capsys.readouterr().err


def test_hf_folder_given_to_a_torchvision_model_says_what_it_takes(tmp_path: Path) -> None:
    from motionfit.models.build import build_model

    folder = tmp_path / "videomae-folder"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "videomae"}')
    with pytest.raises(ModelError, match=r"HuggingFace model folder.*KINETICS400_V1.*state-dict"):
        build_model("r2plus1d_18", 3, 8, 32, pretrained=str(folder))
    with pytest.raises(ModelError, match="is a folder; expected a weights file"):
        build_model("motioncnn_tiny", 3, 8, 32, pretrained=str(folder))


def _command_config(command: str) -> tuple[str, Config]:
    """The subcommand of a printed ``motionfit ...`` line and the config it resolves to."""
    words = shlex.split(command)
    recipe = words[words.index("--config") + 1] if "--config" in words else None
    sets = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    sets.append(f"data.source={words[words.index('--data') + 1]}")  # what --data fills
    return words[1], load_config(recipe, sets)


def test_recommend_matches_its_cards_and_its_commands(any_names_data: Path, tmp_path: Path) -> None:
    from motionfit.models.cards import model_cards
    from motionfit.models.recommend import recommend
    from motionfit.models.registry import get_family

    cards = {card.name: card for card in model_cards()}
    seen: dict[str, Config] = {}
    for priority, videos, gpu, frames in itertools.product(
        ("accuracy", "speed", "stability"), (100, 3000, 50_000), (2, 4, 24, 80), (8, 16, 32)
    ):
        rec = recommend(videos, frames, gpu, priority, data=str(any_names_data))
        card = cards[rec.model]
        assert card.pretrained and card.use_if in rec.reason, (rec.model, rec.reason)
        if not get_family(card.family).capabilities.position_tables:
            assert not any("position tables" in note for note in rec.notes), rec.notes
        for command in rec.commands:
            subcommand, config = _command_config(command)
            assert config.model.name == rec.model, command
            assert (config.sampling.num_frames, config.augment.crop_size) == (
                rec.frames,
                rec.size,
            ), command
            if subcommand == "train" and "--init-from" not in command:
                weights = (config.model.pretrained or "").rpartition(":")[2]
                assert weights in {s.rpartition(":")[2] for s in card.pretrained}, command
                seen[command.split(" --data")[0]] = config
    for index, config in enumerate(seen.values()):
        datamodule = VideoDataModule(config, RunPaths(tmp_path / str(index)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AugmentationWarning)
            assert list(datamodule.prepare_records().names) == sorted(ANY_NAMES)


# ---------------------------------------------------------------------------------------------
# small things (item 5)


def test_config_show_describe_comments_every_field_and_reads_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from motionfit.cli.config_cmd import described_yaml
    from motionfit.config import validate_config
    from motionfit.models.data_config import resolve_model_defaults

    assert run_cli(["config", "show", "demo", "--describe"]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if line.startswith("  ")]
    assert len(lines) > 100 and all("  # " in line for line in lines)
    assert "  crop_size: 32  # Square model input size in pixels." in text
    # config show prints the config as a run resolves it, and that reads back to itself
    assert validate_config(yaml.safe_load(text)) == resolve_model_defaults(load_config("demo"))
    for recipe in list_recipes():  # every recipe's described YAML reads back to it
        config = load_config(recipe)
        assert validate_config(yaml.safe_load(described_yaml(config))) == config, recipe


def test_export_help_keeps_the_input_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["export", "--help"]) == 0
    assert "[batch, 3, T, S, S]" in capsys.readouterr().out


def test_warnings_print_one_line_without_python_source() -> None:
    from motionfit.cli.main import show_one_line_warning

    run_cli(["config", "list"])
    assert warnings.showwarning is show_one_line_warning
    out = io.StringIO()
    show_one_line_warning(AugmentationWarning("two\n lines"), AugmentationWarning, "x.py", 3, out)
    assert out.getvalue() == "AugmentationWarning: two lines\n"


def test_train_is_quiet_and_resume_with_more_epochs_replans(
    any_names_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    sets = [f"--set={item}" for item in tiny_overrides(any_names_data)[2:]]
    args = ["train", "--config", "demo", "--data", str(any_names_data), "--out", str(run)]
    assert run_cli([*args, *sets, "--set=train.epochs=1"]) == 0
    first = capsys.readouterr()
    assert "Total FLOPs" not in first.out + first.err
    assert "logging interval" not in first.out + first.err
    assert "trainable parameters" in first.err
    assert run_cli(["train", "--resume", str(run), "--set=train.epochs=3", "-q"]) == 0
    assert "train.epochs 1 -> 3: the warmup + cosine LR schedule is re-planned" in (
        capsys.readouterr().err
    )
    lrs = [float(r["lr"]) for r in csv.DictReader((run / "metrics.csv").open())]
    floor = load_config("demo").optim.lr * load_config("demo").schedule.min_lr_ratio
    assert len(lrs) == 3 and lrs[1] > 10 * floor  # mid-cosine again, not the old floor


def test_predict_takes_one_frame_folder(
    any_names_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "run", any_names_data)
    frames = tmp_path / "clip_frames"
    frames.mkdir()
    video = next((any_names_data / "wave").glob("*.mp4"))
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            frame.to_image().save(frames / f"img_{index + 1:05d}.jpg")
    assert run_cli(["predict", str(frames), "--run", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [p["video"] for p in result["predictions"]] == [str(frames)]

    # a frame folder has no frame rate: sampling.frames_fps gives it one (default 30)
    count = len(list(frames.glob("*.jpg")))
    slow = make_run(tmp_path / "slow", any_names_data, extra=["sampling.frames_fps=4"])
    assert run_cli(["predict", str(frames), "--run", str(slow), "--window", "1", "--json"]) == 0
    windows = json.loads(capsys.readouterr().out)["predictions"]
    assert windows[-1]["end"] == pytest.approx(count / 4, abs=1e-3) and len(windows) > 1


def test_sweep_leaderboard_fits_80_columns() -> None:
    from rich.console import Console

    from motionfit.sweeps.leaderboard import TrialRow, leaderboard_table

    params = {
        "optim.weight_decay": 0.0512345,
        "augment.label_smoothing": 0.1,
        "optim.lr": 3.3e-4,
        "model.dropout": 0.25,
        "augment.mix.p": 0.5,
        "optim.layer_decay": 0.75,
    }
    rows = [
        TrialRow(i, i, "complete", 0.5, params, {"gap": 0.1, "epochs": 12}, 1.0, "run", "")
        for i in range(3)
    ]
    console = Console(width=80, record=True)
    console.print(leaderboard_table(rows, "val/top1", "study", console.width))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "weight_decay=0.0512" in text and "layer_decay=0.75" in text
    console = Console(width=160, record=True)
    console.print(leaderboard_table(rows, "val/top1", "study", console.width))
    assert "weight_decay" in console.export_text().splitlines()[2]  # one column per field


# ---------------------------------------------------------------------------------------------
# progress (item 4)


def test_progress_bar_on_a_terminal_only_and_not_with_quiet() -> None:
    from rich.console import Console

    from motionfit.progress import progress_bar, set_quiet, track

    def shown(console: Console) -> str:
        with progress_bar("scoring videos", console=console) as bar:
            task = bar.add_task("x", total=4)
            for _ in range(4):
                bar.advance(task)
            bar.refresh()
        return console.file.getvalue()

    assert "ETA" in shown(Console(file=io.StringIO(), force_terminal=True))
    assert shown(Console(file=io.StringIO(), force_terminal=False)) == ""
    set_quiet(True)
    try:
        assert shown(Console(file=io.StringIO(), force_terminal=True)) == ""
    finally:
        set_quiet(False)
    assert list(track(range(3), "counting")) == [0, 1, 2]


def test_long_commands_take_quiet(any_names_data: Path, tmp_path: Path) -> None:
    from motionfit.progress import _state

    run = make_run(tmp_path / "run", any_names_data)
    clip = str(next((any_names_data / "wave").glob("*.mp4")))
    commands = [
        ["evaluate", str(run), "--data", str(any_names_data), "--out", str(tmp_path / "ev")],
        ["predict", clip, "--run", str(run)],
        ["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "m.pt")],
        ["report", str(run), "--out", str(tmp_path / "r.html")],
        ["data", "inspect", str(any_names_data)],
    ]
    for command in commands:
        assert run_cli([*command, "-q"]) == 0, command
        assert _state["quiet"] is True
        _state["quiet"] = False


# ---------------------------------------------------------------------------------------------
# calibrated confidence and "unknown" (item 9)


def test_fit_temperature_recovers_overconfidence() -> None:
    from motionfit.calibration import apply_temperature, calibration_scores, fit_temperature

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3000, 5, generator=generator) * 2
    labels = torch.multinomial(logits.softmax(dim=1), 1, generator=generator).squeeze(1)
    overconfident = (logits * 3).softmax(dim=1)  # the true temperature is 3
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.15)
    before = calibration_scores(overconfident, labels)
    after = calibration_scores(apply_temperature(overconfident, temperature), labels)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]


def test_calibrate_then_predict_with_min_confidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from motionfit.calibration import apply_temperature

    data = make_videos(tmp_path / "data", classes=3, per_class=7)  # calibration needs 20+
    run = make_run(tmp_path / "run", data, train_steps=6)
    clips = sorted(str(p) for p in data.glob("*/*.mp4"))[:3]

    def predict(*extra: str) -> list[dict]:
        assert run_cli(["predict", *clips[:1], "--run", str(run), "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["predictions"]

    raw = predict("--top-k", "3")[0]
    assert run_cli(["calibrate", str(run), "--data", str(data)]) == 0
    assert "temperature" in capsys.readouterr().out
    stored = json.loads((run / "calibration.json").read_text())
    assert stored["videos"] == 21 and stored["after"]["nll"] <= stored["before"]["nll"]

    calibrated = predict("--top-k", "3")[0]
    raw_probs = torch.tensor([[s["probability"] for s in raw["top_k"]]])
    expected = apply_temperature(raw_probs, stored["temperature"])  # all 3 classes: the full p
    got = [s["probability"] for s in calibrated["top_k"]]
    assert got == pytest.approx(expected[0].tolist(), abs=1e-4)
    assert calibrated["label"] == raw["top_k"][0]["label"]
    assert predict("--min-confidence", "1.0")[0]["label"] == "unknown"
    assert predict("--min-confidence", "0")[0]["label"] == calibrated["label"]
