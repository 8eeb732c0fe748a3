"""``motionfit plan``: a recipe read from the data, every choice explained, that trains as is."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml
from run_fixtures import make_videos, run_cli

from motionfit.config import load_config
from motionfit.data.records import read_records
from motionfit.plan.fingerprint import fingerprint, fingerprint_records
from motionfit.plan.machine import Machine
from motionfit.plan.mirror import mirror_plan
from motionfit.plan.rules import COVERAGE, make_plan

CPU = Machine(cpus=2, gpu_name=None, gpu_memory_gb=None)


@pytest.mark.parametrize(
    ("names", "pairs", "unpaired"),
    [
        (["swipe_left", "swipe_right", "clap"], {"swipe_left": "swipe_right"}, ()),
        (
            ["RotateClockwise", "rotate_anticlockwise", "Turn Left", "turn right"],
            {"RotateClockwise": "rotate_anticlockwise", "Turn Left": "turn right"},
            (),
        ),
        (
            ["carret", "circlecc", "left", "right", "tick", "upright"],
            {"left": "right"},
            ("circlecc", "tick"),
        ),
        (["circlecc", "circlecw"], {"circlecc": "circlecw"}, ()),
        (["jump", "run", "sit"], {}, ()),
    ],
)
def test_mirror_pairs_and_mirror_sensitive_classes_from_names(names, pairs, unpaired):
    plan = mirror_plan(names)
    assert plan.pairs == pairs and plan.unpaired == unpaired
    assert plan.flip_safe == (not unpaired)


@pytest.fixture(scope="module")
def gestures(tmp_path_factory) -> Path:
    """Four classes of real h264 clips with gesture-like names (one mirror-sensitive and
    unpaired), 40-60 frames each."""
    source = make_videos(tmp_path_factory.mktemp("synth"), classes=4, per_class=5, frames=(40, 60))
    out = tmp_path_factory.mktemp("gestures")
    folders = sorted(p for p in source.iterdir() if p.is_dir())
    for folder, name in zip(folders, ["left", "right", "tick", "up"], strict=True):
        shutil.copytree(folder, out / name)
    return out


def test_the_fingerprint_reads_lengths_rates_sizes_and_classes(gestures):
    prints = fingerprint(str(gestures))
    assert prints.classes == ("left", "right", "tick", "up")
    assert prints.per_class == (5, 5, 5, 5) and prints.readable == prints.videos == 20
    assert 40 <= prints.frames.min <= prints.frames.median <= prints.frames.max <= 60
    assert prints.fps.min >= 20 and prints.fps.max <= 30
    assert prints.short_side.median == 32 and prints.portrait == 0.0


def test_the_plan_covers_the_videos_and_follows_the_class_names(gestures):
    prints = fingerprint(str(gestures))
    plan = make_plan(prints, CPU, source=str(gestures))
    frames, stride = plan.value("sampling.num_frames"), plan.value("sampling.stride")
    span = (frames - 1) * stride + 1
    assert abs(span / prints.frames.median - COVERAGE) < 0.5 * stride / prints.frames.median + 0.1
    assert plan.value("augment.hflip") == 0.0  # tick mirrors into no class
    assert "tick" in next(s.why for s in plan.settings if s.key == "augment.hflip")
    assert plan.value("model.name") == "motioncnn_tiny"  # no GPU: the CPU path
    config = load_config(plan.recipe, plan.overrides())
    assert config.augment.crop_size == 64 and config.sampling.num_frames == frames
    assert config.eval.validation_views() == (config.eval.clips, 1)  # one protocol


def test_paired_directions_get_a_flip_map_and_imbalance_gets_class_weights(gestures, tmp_path):
    data = tmp_path / "paired"
    for name in ("left", "right"):
        shutil.copytree(gestures / name, data / name)
    (data / "up").mkdir()
    shutil.copy(next((gestures / "up").iterdir()), data / "up")
    plan = make_plan(fingerprint(str(data)), CPU, source=str(data))
    assert plan.value("augment.hflip") == 0.5
    assert plan.value("augment.flip_label_map") == {"left": "right"}
    assert plan.value("train.class_weights") == "balanced"  # up has 1 video, the others 5


def test_a_random_validation_split_of_ungrouped_videos_is_called_out(gestures, tmp_path):
    plan = make_plan(fingerprint(str(gestures)), CPU, source=str(gestures))
    assert any("no video names a group" in note for note in plan.notes)
    grouped = tmp_path / "grouped"  # UCF101-style names carry the group (g01, g02)
    for folder in gestures.iterdir():
        for i, video in enumerate(sorted(folder.iterdir())):
            target = (
                grouped / folder.name / f"v_{folder.name}_g{i % 2 + 1:02d}_c{i:02d}{video.suffix}"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(video, target)
    prints = fingerprint(str(grouped))
    assert prints.grouped == prints.readable == 20
    plan = make_plan(prints, CPU, source=str(grouped))
    assert not any("no video names a group" in note for note in plan.notes)


def test_a_gpu_plan_takes_a_pretrained_family_and_adapts_to_few_labels(gestures):
    prints = fingerprint(str(gestures))
    plan = make_plan(prints, Machine(8, "a GPU", 24.0), source=str(gestures), hours=2.0)
    name = plan.value("model.name")
    assert not name.startswith("motioncnn")
    assert plan.value("model.pretrained")
    assert plan.value("model.freeze") == "backbone"  # 5 videos per class: a probe
    why = next(s.why for s in plan.settings if s.key == "train.epochs")
    assert "not checked" in why  # no GPU here to time it on
    load_config(plan.recipe, plan.overrides())  # the plan validates


def test_short_videos_are_padded_and_frame_rates_that_vary_count_time(tmp_path):
    data = make_videos(tmp_path / "d", classes=2, per_class=4, frames=(8, 12))
    records, labels = read_records(data)
    prints = fingerprint_records(str(data), records, labels.names)
    plan = make_plan(prints, CPU, source=str(data))
    assert plan.value("sampling.stride") == 1
    assert plan.value("sampling.short_video") == "pad"
    assert plan.value("eval.clips") == 1  # one clip already spans the whole video


def test_cli_plan_writes_a_commented_recipe_that_trains_as_is(gestures, tmp_path, capsys):
    out = tmp_path / "plan.yaml"
    assert run_cli(["plan", str(gestures), "--out", str(out), "--time-budget", "0.001"]) == 0
    said = capsys.readouterr().out
    assert f"next: motionfit train --config {out} --out RUN_DIR" in said
    text = out.read_text()
    assert text.startswith("# motionfit plan for")
    assert "  stride:" in text and "% of the median video" in text  # every value says why
    raw = yaml.safe_load(text)
    assert raw["extends"] == "demo" and raw["data"]["source"] == str(gestures)
    config = load_config(out)
    assert config.train.epochs >= 1 and "0.001 h" in text  # the budget was measured and applied
    run = tmp_path / "run"
    argv = ["train", "--config", str(out), "--out", str(run), "-q"]
    assert run_cli([*argv, "--set", "train.epochs=1", "--set", "train.batch_size=4"]) == 0
    assert (run / "model.safetensors").is_file()
    # the plan is an output like any other: not over itself, not into the data
    assert run_cli(["plan", str(gestures), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert run_cli(["plan", str(gestures), "--out", str(gestures / "plan.yaml")]) == 2
    assert "inside the input" in capsys.readouterr().err
    assert not (gestures / "plan.yaml").exists()
    assert run_cli(["plan", str(tmp_path / "missing"), "--out", str(tmp_path / "p.yaml")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_plan_for_gpus_too_small_for_its_model_shards_it_over_them(gestures):
    # the gestures' statistics, as if there were 5000 videos of each class
    prints = dataclasses.replace(
        fingerprint(str(gestures)), videos=20_000, readable=20_000, per_class=(5000,) * 4
    )
    sharded = make_plan(prints, Machine(8, "a GPU", 12.0, gpus=4), source=str(gestures))
    alone = make_plan(prints, Machine(8, "a GPU", 12.0), source=str(gestures))
    assert sharded.value("train.strategy") == "fsdp" and sharded.value("train.devices") == 4
    assert sharded.value("train.grad_checkpointing") is True
    assert sharded.value("model.name") != alone.value("model.name")
    assert "train.strategy" not in {s.key for s in alone.settings}
    config = load_config(sharded.recipe, sharded.overrides())  # the plan validates
    assert config.train.strategy == "fsdp"
