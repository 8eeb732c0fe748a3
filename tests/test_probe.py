"""Probes on cached features: the cache is resumable, and a probe trained on it matches the
same probe trained on the fly with a frozen backbone; its run directory is a normal one."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from run_fixtures import make_videos, run_cli

from motionfit.config import load_config
from motionfit.data.augment import registered
from motionfit.errors import ConfigError
from motionfit.features.cache import FeatureCache
from motionfit.features.extract import extract_features, features_config
from motionfit.features.probe import pixel_batch_augments, train_probe
from motionfit.run import load_run
from motionfit.train.fit import train

# the recipe's MixUp/CutMix and debiasing augmentations stay on: the probe turns them off
SETTINGS = [
    "model.head=linear", "model.dropout=0", "model.drop_path=0", "data.num_workers=0",
    "train.batch_size=2", "train.epochs=2", "eval.val_clips=2", "eval.batch_size=4",
    "train.clean_train_videos=0", "optim.lr=0.01", "output.plots=false",
    "output.tensorboard=false", "schedule.warmup_epochs=0",
]  # fmt: skip


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_videos(tmp_path_factory.mktemp("videos"), classes=2, per_class=5)


@pytest.fixture(scope="module")
def cache_dir(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config, weights = features_config("vjepa2_tiny", str(videos), overrides=SETTINGS)
    out = tmp_path_factory.mktemp("features") / "cache"
    extract_features(config, weights, out, train_views=2, dtype="float32")
    return out


def _val_metrics(run: Path) -> list[tuple[float, float]]:
    with (run / "metrics.csv").open() as handle:
        return [(float(r["val_loss"]), float(r["val_top1"])) for r in csv.DictReader(handle)]


def test_cached_probe_matches_probe_trained_on_the_fly(
    videos: Path, cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    cached = train_probe(cache_dir, tmp_path / "probe", progress=False)
    note = capsys.readouterr().err
    decided = ", ".join(f"augment.{n}" for n, a in registered().items() if a.model_decided())
    assert f"note: the probe trains on cached tokens: turned off {decided}, " in note
    assert "augment.foreground_paste, augment.mix" in note
    # the probe's config.yaml says what it trained with: training on the fly with it matches
    config = load_config(tmp_path / "probe" / "config.yaml")
    assert pixel_batch_augments(config) == []
    assert config.model.freeze == "backbone" and config.data.source == str(videos)
    live = train(config, tmp_path / "live", progress=False)
    assert cached.steps == live.steps > 0
    expected, got = _val_metrics(tmp_path / "live"), _val_metrics(tmp_path / "probe")
    assert np.allclose(got, expected, atol=1e-4), (got, expected)
    head = "head.layers.1.weight"
    probe_model, live_model = load_run(tmp_path / "probe").model, load_run(tmp_path / "live").model
    assert torch.allclose(probe_model.state_dict()[head], live_model.state_dict()[head], atol=1e-5)


def test_cli_features_then_probe_run_evaluates_and_exports(videos: Path, tmp_path: Path):
    sets = [arg for item in SETTINGS for arg in ("--set", item)]
    cache = str(tmp_path / "cache")
    assert run_cli(["features", "vjepa2_tiny", "--data", str(videos), "--out", cache,
                    "--views", "1", *sets]) == 0  # fmt: skip
    run = str(tmp_path / "run")
    assert run_cli(["train", "--features", cache, "--out", run, "-q",
                    "--set", "model.head=attentive", "--set", "train.epochs=1"]) == 0  # fmt: skip
    assert run_cli(["evaluate", run, "--data", str(videos)]) == 0
    assert run_cli(["export", run, "--out", str(tmp_path / "m.onnx"), "--format", "onnx"]) == 0
    again = str(tmp_path / "from-run")
    assert run_cli(["features", run, "--data", str(videos), "--out", again, "--views", "1"]) == 0
    assert run_cli(["train", "--features", cache, "--out", run, "--data", str(videos)]) == 2


def test_probe_refuses_overrides_of_what_the_tokens_depend_on(cache_dir: Path, tmp_path):
    with pytest.raises(ConfigError, match="augment"):
        train_probe(cache_dir, tmp_path / "run", ["augment.hflip=0"], progress=False)
    with pytest.raises(ConfigError, match=r"'augment\.mix\.mixup_alpha': a probe trains on cached"):
        train_probe(cache_dir, tmp_path / "run", ["augment.mix.mixup_alpha=0.8"], progress=False)
    assert not (tmp_path / "run").exists()


def test_interrupted_extraction_resumes(videos: Path, cache_dir: Path, tmp_path):
    config, weights = features_config("vjepa2_tiny", str(videos), overrides=SETTINGS)
    out = tmp_path / "cache"
    calls = []

    def stop_after_two(done: int, total: int) -> None:
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_features(config, weights, out, train_views=2, dtype="float32",
                         on_video=stop_after_two)  # fmt: skip
    assert 0 < len(FeatureCache(out).pending()) < len(FeatureCache(out).rows)
    extract_features(config, weights, out, train_views=2, dtype="float32")
    assert not FeatureCache(out).pending()
    assert np.array_equal(FeatureCache(out).tokens, FeatureCache(cache_dir).tokens)


def test_recommend_proposes_probe_lora_or_full_fine_tuning():
    from motionfit.models.cards import ModelCard
    from motionfit.models.recommend import recommend

    def card(name: str, family: str, params: float, gflops: float, recipe: str) -> ModelCard:
        return ModelCard(name=name, family=family, frames=16, size=224, frame_multiple=2,
                         params_m=params, gflops=gflops, pretrained=("hf:x/y",), use_if="",
                         recipe=recipe, tiny=False)  # fmt: skip

    zoo = [card("videomae_b", "videomae", 87, 360, "videomae_b"),
           card("vjepa2_l", "vjepa2", 354, 1870, "vjepa2_l"),
           card("videoprism_b", "videoprism", 124, 1012, "videoprism_b")]  # fmt: skip
    probe = recommend(200, 16, 24.0, "accuracy", data="v/", cards=zoo, classes=20)
    assert probe.model == "videomae_b" and probe.adaptation == "probe"
    assert probe.alternative_commands == (
        "motionfit features vjepa2_l --data v/ --out features/vjepa2_l",
        "motionfit train --features features/vjepa2_l --out runs/vjepa2_l-probe",
    )
    lora = recommend(2000, 16, 40.0, "accuracy", data="v/", cards=zoo, classes=10)
    assert lora.adaptation == "lora" and "videoprism_b" in lora.alternative_commands[0]
    assert "model.lora=" in lora.alternative_commands[0]
    full = recommend(20_000, 16, 40.0, "accuracy", cards=zoo, classes=10)
    assert (full.adaptation, full.alternative_commands) == ("full", ())


def test_unreadable_videos_are_left_out_and_listed_never_replaced(videos: Path, tmp_path: Path):
    # issue 22, 6: an unreadable validation video was cached as another video's tokens, and
    # the probe scored it
    from motionfit.features.probe import FeatureDataset

    data = tmp_path / "data"
    for video in sorted(videos.glob("*/*.mp4")):
        (data / video.parent.name).mkdir(parents=True, exist_ok=True)
        (data / video.parent.name / video.name).write_bytes(video.read_bytes())
    classes = sorted(p.name for p in data.iterdir())
    broken_train = data / classes[0] / "zz_broken.mp4"
    broken_train.write_bytes(b"not a video\n" * 50)
    val = tmp_path / "val.txt"
    picks = [sorted((data / name).glob("*.mp4"))[0] for name in classes]
    broken_val = tmp_path / "broken_val.mp4"
    broken_val.write_bytes(b"")
    lines = [f"{p} {p.parent.name}\n" for p in picks] + [f"{broken_val} {classes[1]}\n"]
    val.write_text("".join(lines))
    overrides = [*SETTINGS, "data.max_bad_fraction=0.5"]
    config, weights = features_config("vjepa2_tiny", str(data), str(val), overrides)
    cache = extract_features(config, weights, tmp_path / "cache", train_views=2)
    left = {path for path, _ in cache.left_out.values()}
    assert left == {str(broken_train), str(broken_val)}
    listed = (tmp_path / "cache" / "bad_files.tsv").read_text()
    assert str(broken_train) in listed and str(broken_val) in listed
    val_rows = cache.split_rows("val")
    assert len(val_rows) == len(picks)  # the unreadable one is not scored
    assert len(FeatureDataset(cache, "val", train=False)) == len(picks)
    used = [row for rows in (*val_rows, *cache.split_rows("train")) for row in rows]
    tokens = np.asarray(cache.tokens[used], dtype=np.float32).reshape(len(used), -1)
    assert len(np.unique(tokens, axis=0)) == len(used)  # no video's tokens stand in for another
    assert cache.check_complete() is None
