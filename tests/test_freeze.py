"""model.freeze: frozen weights (and batch-norm statistics) do not change in training; the
trainable parameter count is printed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_fixtures import make_videos
from safetensors.torch import load_file

from motionfit.config import load_config
from motionfit.errors import ConfigError
from motionfit.models.build import build_model
from motionfit.models.freeze import freeze_model
from motionfit.models.head import HeadSpec
from motionfit.train.fit import train


def _config(videos: Path, name: str, size: int, freeze: str):
    return load_config("demo", [
        f"model.name={name}", f"augment.crop_size={size}", "sampling.num_frames=8",
        f"data.source={videos}", "data.num_workers=0", "train.batch_size=2", "train.epochs=1",
        "train.max_steps=3", "eval.clips=1", "eval.batch_size=4", "train.clean_train_videos=0",
        "output.plots=false", "output.tensorboard=false", f"model.freeze={freeze}",
        "optim.lr=0.05",
    ])  # fmt: skip


@pytest.mark.parametrize(("name", "size"), [("motioncnn_tiny", 32), ("vjepa2_tiny", 64)])
def test_frozen_backbone_does_not_change_in_training(name: str, size: int, tmp_path: Path, capsys):
    videos = make_videos(tmp_path / "videos", classes=2, per_class=3)
    config = _config(videos, name, size, "backbone")
    train(config, tmp_path / "run", progress=True)
    assert "trainable parameters:" in capsys.readouterr().err
    torch.manual_seed(config.train.seed)  # the run's initial weights
    initial = build_model(name, 2, num_frames=8, image_size=size,
                          head=HeadSpec(dropout=config.model.dropout)).state_dict()  # fmt: skip
    trained = load_file(str(tmp_path / "run" / "model.safetensors"))
    changed = {k for k, v in trained.items() if not torch.equal(v, initial[k])}
    assert changed and all(k.startswith(("head.", "pooler.")) for k in changed), changed


def test_first_n_freezes_embeddings_and_first_blocks():
    torch.manual_seed(0)
    model = build_model("vjepa2_tiny", 3, head=HeadSpec(pool="linear"))
    count = freeze_model(model, "first_1")
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("vjepa2.encoder.embeddings.") for n in frozen)
    assert any(n.startswith("vjepa2.encoder.layer.0.") for n in frozen)
    assert not any(n.startswith("vjepa2.encoder.layer.1.") for n in frozen)
    assert 0 < count.trainable < count.total
    with pytest.raises(ConfigError, match="first_9"):
        freeze_model(model, "first_9")
