"""model.lora: PEFT adapters train, and are merged into plain weights in the run directory."""

from __future__ import annotations

from pathlib import Path

import torch
from run_fixtures import make_videos
from safetensors.torch import load_file

from motionfit.config import load_config
from motionfit.models.build import build_model
from motionfit.models.head import HeadSpec
from motionfit.run import load_run
from motionfit.train.fit import train


def test_lora_trains_adapters_and_exports_merged_weights(tmp_path: Path):
    videos = make_videos(tmp_path / "videos", classes=2, per_class=3)
    config = load_config("demo", [
        "model.name=vjepa2_tiny", "augment.crop_size=64", "sampling.num_frames=8",
        f"data.source={videos}", "data.num_workers=0", "train.batch_size=2", "train.epochs=1",
        "train.max_steps=3", "eval.clips=1", "eval.batch_size=4", "train.clean_train_videos=0",
        "output.plots=false", "output.tensorboard=false", "optim.lr=0.05",
        "model.lora={rank: 4, alpha: 8, targets: [query, value]}",
    ])  # fmt: skip
    train(config, tmp_path / "run", progress=False)
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert not any("lora_" in k or "base_layer" in k for k in weights)
    torch.manual_seed(config.train.seed)
    initial = build_model("vjepa2_tiny", 2, head=HeadSpec(dropout=config.model.dropout))
    initial = initial.state_dict()
    changed = {k for k, v in weights.items() if not torch.equal(v, initial[k])}
    assert "vjepa2.encoder.layer.0.attention.query.weight" in changed  # merged update
    assert "vjepa2.encoder.layer.0.attention.key.weight" not in changed  # not a target
    assert not any(k.startswith("vjepa2.") and ".mlp." in k for k in changed)
    run = load_run(tmp_path / "run")  # plain model, no PEFT needed
    assert run.model(torch.randn(1, 3, 8, 64, 64)).shape == (1, 2)
    from motionfit.models.weights import read_class_names

    weights_file = tmp_path / "run" / "model.safetensors"
    (tmp_path / "run" / "labels.txt").rename(tmp_path / "labels.moved")  # only the metadata left
    assert read_class_names(weights_file) == tuple(run.labels.names)  # merge kept the names


def test_lora_on_weights_the_forward_reads_directly_is_refused() -> None:
    """torchvision's Swin attention passes qkv.weight / proj.weight to a function: an adapter
    there would never run, so naming them is a one-line error; the default targets train."""
    import pytest

    from motionfit.config import LoraSettings, ModelConfig
    from motionfit.errors import ConfigError
    from motionfit.models.adapt import adapt_for_training

    def swin() -> torch.nn.Module:
        return build_model("swin3d_tiny", num_classes=2, num_frames=4, image_size=32)

    for targets in (["attn.qkv"], ["attn.proj", "mlp.0"]):
        config = ModelConfig(name="swin3d_tiny", lora=LoraSettings(targets=targets))
        with pytest.raises(ConfigError, match=r"model\.lora\.targets.*would never run.*mlp\.0"):
            adapt_for_training(swin(), config)
    model = swin()
    adapted = adapt_for_training(model, ModelConfig(name="swin3d_tiny", lora=LoraSettings()))
    assert adapted.lora is not None and 0 < adapted.count.trainable < adapted.count.total
