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
from motionfit.errors import ConfigError
from motionfit.features.cache import FeatureCache
from motionfit.features.extract import extract_features, features_config
from motionfit.features.probe import train_probe
from motionfit.run import load_run
from motionfit.train.fit import train

SETTINGS = [
    "model.head=linear", "model.dropout=0", "model.drop_path=0", "augment.mixup_alpha=0",
    "augment.cutmix_alpha=0", "data.num_workers=0", "train.batch_size=2", "train.epochs=2",
    "eval.val_clips=2", "eval.batch_size=4", "train.clean_train_videos=0", "optim.lr=0.01",
    "output.plots=false", "output.tensorboard=false", "schedule.warmup_epochs=0",
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


def test_cached_probe_matches_probe_trained_on_the_fly(videos: Path, cache_dir: Path, tmp_path):
    cached = train_probe(cache_dir, tmp_path / "probe", progress=False)
    config = load_config("demo", [
        "model.name=vjepa2_tiny", "sampling.num_frames=8", "augment.crop_size=64",
        f"data.source={videos}", "data.val=null", "model.freeze=backbone", *SETTINGS,
        "augment.mean=[0.485, 0.456, 0.406]", "augment.std=[0.229, 0.224, 0.225]",
    ])  # fmt: skip
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
    with pytest.raises(ConfigError, match=r"--set augment\.mixup_alpha=0"):
        train_probe(cache_dir, tmp_path / "run", ["augment.mixup_alpha=0.8"], progress=False)


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
