"""V-JEPA 2 and VideoPrism: registry, transformers parity through save_pretrained folders,
position-table interpolation, optimizer depth maps, and a tiny run trained, loaded and exported
offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_fixtures import make_videos, run_cli
from transformers import VideoPrismVisionModel, VJEPA2ForVideoClassification

from motionfit.config import load_config
from motionfit.errors import ModelError
from motionfit.export import export_run
from motionfit.models.build import build_model
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.head import HeadSpec
from motionfit.models.registry import get_spec
from motionfit.run import load_run
from motionfit.train.fit import train

TINY = {"vjepa2_tiny": (8, 64), "videoprism_tiny": (8, 72)}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _tiny(name: str, pool: str | None = None, frames: int = 8, size: int | None = None):
    torch.manual_seed(0)
    size = size or TINY[name][1]
    model = build_model(name, 4, num_frames=frames, image_size=size, head=HeadSpec(pool=pool))
    return model.eval()


def test_registered_with_reference_clip_shapes_and_sizes():
    shapes = {name: (get_spec(name).default_frames, get_spec(name).default_size)
              for name in ("vjepa2_l", "vjepa2_h", "vjepa2_g", "vjepa2_g384", "videoprism_b",
                           "videoprism_l")}  # fmt: skip
    assert shapes["vjepa2_g384"] == (16, 384) and shapes["videoprism_l"] == (8, 288)
    with torch.device("meta"):
        large = get_spec("vjepa2_l").builder(400, 16, 256, HeadSpec(), 0.0)
    encoder = sum(p.numel() for p in large.vjepa2.encoder.parameters())
    assert 300e6 < encoder < 306e6  # ViT-L/16 with a tubelet embedding


def test_vjepa2_folder_from_transformers_loads_with_identical_logits(tmp_path: Path):
    ours = _tiny("vjepa2_tiny")
    config = ours.config.__class__(**{**ours.config.to_dict(), "num_labels": 4})
    hf = VJEPA2ForVideoClassification(config).eval()
    hf.save_pretrained(tmp_path / "hf")
    model = build_model("vjepa2_tiny", 4, pretrained=str(tmp_path / "hf")).eval()
    report = model.load_report
    assert not report.missing and not report.new_head
    assert any(k.startswith("predictor.") or ".predictor." in k for k in report.unexpected)
    clip = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        expected = hf(pixel_values_videos=clip.permute(0, 2, 1, 3, 4)).logits
        assert torch.allclose(model(clip), expected, atol=1e-5)


def test_vjepa2_rotary_model_takes_any_clip_on_the_grid():
    model = _tiny("vjepa2_tiny", frames=4, size=48)
    assert model(torch.randn(1, 3, 4, 48, 48)).shape == (1, 4)
    with pytest.raises(ModelError, match="multiple of 2"):
        build_model("vjepa2_tiny", 4, num_frames=5)


def test_videoprism_folder_loads_and_tables_interpolate(tmp_path: Path):
    ours = _tiny("videoprism_tiny")
    backbone = VideoPrismVisionModel(ours.config).eval()
    backbone.save_pretrained(tmp_path / "prism")
    same = build_model("videoprism_tiny", 4, pretrained=str(tmp_path / "prism")).eval()
    clip = torch.randn(1, 3, 8, 72, 72)
    with torch.no_grad():
        expected = backbone(pixel_values_videos=clip.permute(0, 2, 1, 3, 4)).last_hidden_state
        assert torch.allclose(same.forward_tokens(clip), expected, atol=1e-5)
    assert same.load_report.new_head and not same.load_report.adapted
    bigger = build_model("videoprism_tiny", 4, num_frames=16, image_size=108,
                         pretrained=str(tmp_path / "prism"))  # fmt: skip
    assert sorted(bigger.load_report.adapted) == ["position_embeddings: 4x4 -> 6x6",
                                                  "position_embeddings: 8 -> 16"]  # fmt: skip
    assert bigger(torch.randn(1, 3, 16, 108, 108)).shape == (1, 4)


def test_checkpoint_of_the_other_family_is_a_model_error(tmp_path: Path):
    VideoPrismVisionModel(_tiny("videoprism_tiny").config).save_pretrained(tmp_path / "p")
    with pytest.raises(ModelError, match="videoprism_vision_model"):
        build_model("vjepa2_tiny", 4, pretrained=str(tmp_path / "p"))


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("pool", ["attentive", "linear"])
def test_layer_ids_and_no_weight_decay(name: str, pool: str):
    model = _tiny(name, pool)
    ids = {n: model.layer_id(n) for n, _ in model.named_parameters()}
    assert set(ids.values()) == set(range(model.num_layers + 2))
    assert all(ids[n] == model.num_layers + 1 for n in ids if n.startswith("head."))
    no_decay = model.no_weight_decay()
    assert all(n in no_decay for n in ids if n.endswith(".bias") or "position_embeddings" in n)
    assert not any(n.endswith(".weight") and ids[n] > 0 and "norm" not in n for n in no_decay)


def test_attentive_head_is_refused_by_other_families():
    with pytest.raises(ModelError, match="attentive"):
        build_model("videomae_tiny", 3, head=HeadSpec(pool="attentive"))


@pytest.mark.parametrize("name", list(TINY))
def test_tiny_run_trains_loads_and_exports_offline(name: str, tmp_path: Path):
    videos = make_videos(tmp_path / "videos", classes=2, per_class=3)
    frames, size = TINY[name]
    config = load_config("demo", [
        f"model.name={name}", f"augment.crop_size={size}", f"sampling.num_frames={frames}",
        f"data.source={videos}", "data.num_workers=0", "train.batch_size=2", "train.epochs=1",
        "train.max_steps=2", "eval.clips=1", "eval.batch_size=4", "train.clean_train_videos=0",
        "output.plots=false", "output.tensorboard=false", "optim.layer_decay=0.75",
    ])  # fmt: skip
    result = train(config, tmp_path / "run", progress=False)
    assert result.steps == 2
    run = load_run(tmp_path / "run")
    clip = torch.randn(1, 3, frames, size, size)
    with torch.no_grad():
        assert torch.isfinite(run.model(clip)).all()
    exported = export_run(run, tmp_path / "model.onnx", "onnx")
    assert exported.model_path.is_file() and exported.max_abs_diff < 1e-3
    assert run_cli(["evaluate", str(tmp_path / "run"), "--data", str(videos)]) == 0


@pytest.mark.parametrize("recipe", ["vjepa2_l", "videoprism_b"])
def test_recipes_validate_and_describe_a_frozen_probe(recipe: str):
    config = resolve_model_defaults(load_config(recipe))
    assert config.model.name == recipe and get_spec(recipe).recipe == recipe
    assert (config.model.freeze, config.model.head) == ("backbone", "attentive")
    assert config.augment.mean == tuple(get_spec(recipe).mean)
