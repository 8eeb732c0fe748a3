"""VideoMAE and TimeSformer: building, running on real clips, and loading weights (HF folders,
state dicts, VideoMAE pretraining weights, other class counts, frame counts and sizes)."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from huggingface_hub import constants
from huggingface_hub.errors import LocalEntryNotFoundError
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode
from transformers import (
    TimesformerForVideoClassification,
    VideoMAEConfig,
    VideoMAEForPreTraining,
    VideoMAEForVideoClassification,
)
from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

from motionfit.config import load_config
from motionfit.errors import ModelError
from motionfit.models import hf_checkpoint
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.families._lazy import load_hf
from motionfit.models.family import ViTSize
from motionfit.models.head import HeadSpec
from motionfit.models.hf_checkpoint import load_hf_pretrained
from motionfit.models.hf_videomae import build_videomae
from motionfit.models.registry import get_spec

TINY = ["videomae_tiny", "timesformer_tiny"]
HF_CLASSES = {
    "videomae": VideoMAEForVideoClassification,
    "timesformer": TimesformerForVideoClassification,
}
CLIP = Path("kinetics_armwrestling_340x256_28fps.mp4")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on 2 shared cores, two threads spin against other jobs (~20x
    slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def real_frames(real_videos_dir: Path) -> dict[int, np.ndarray]:
    """The first 32 frames of a real Kinetics clip, decoded with PyAV at 64² and 96²."""
    out = {}
    for size in (64, 96):
        with av.open(str(real_videos_dir / CLIP)) as container:
            frames = [
                frame.to_ndarray(width=size, height=size, format="rgb24")
                for _, frame in zip(range(32), container.decode(video=0), strict=False)
            ]
        out[size] = np.stack(frames)
    return out


def real_clip(frames: dict[int, np.ndarray], name: str, num_frames: int, size: int) -> torch.Tensor:
    """A batch of 2 normalized clips ``[2, 3, T, S, S]`` (stride 2 and stride 1 windows)."""
    spec = get_spec(name)
    mean = torch.tensor(spec.mean).view(3, 1, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1, 1)
    clips = []
    for stride in (2, 1):
        window = torch.from_numpy(frames[size][: num_frames * stride : stride])
        clips.append((window.permute(3, 0, 1, 2).float() / 255 - mean) / std)
    return torch.stack(clips)


def build(
    name: str, num_classes: int = 5, frames: int = 8, size: int = 64, seed: int = 0, **kwargs
):
    """A registered model, seeded, in eval mode."""
    torch.manual_seed(seed)
    spec = get_spec(name)
    head = kwargs.pop("head", HeadSpec())
    drop_path = kwargs.pop("drop_path", 0.1)
    return spec.builder(num_classes, frames, size, head, drop_path, **kwargs).eval()


def logits(model, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(clip)


def to_hf_state(model) -> dict[str, torch.Tensor]:
    """Our state dict in ``*ForVideoClassification`` layout (head -> classifier)."""
    return {
        k.replace("head.layers.1.", "classifier."): v
        for k, v in model.state_dict().items()
        if k.startswith((model.backbone_prefix, "fc_norm", "head.layers.1."))
    }


def hf_config(model):
    """The model's transformers config with its class count."""
    labels = {i: f"class{i}" for i in range(model.head.num_classes)}
    fields = {k: v for k, v in model.config.to_dict().items() if k not in ("id2label", "label2id")}
    return type(model.config)(**fields, id2label=labels)


def save_hf_folder(model, folder: Path) -> None:
    """Write ``model`` with transformers' own ``save_pretrained`` (config.json + safetensors)."""
    config = hf_config(model)
    hf_model = HF_CLASSES[model.family](config).eval()
    hf_model.load_state_dict(to_hf_state(model), strict=True)
    hf_model.save_pretrained(folder)


# ---------------------------------------------------------------------------------------------
# Registry and building


def test_registered_models_have_their_reference_clip_shapes():
    expected = {
        "videomae_s": ("videomae", 16, 224, 2),
        "videomae_b": ("videomae", 16, 224, 2),
        "videomae_l": ("videomae", 16, 224, 2),
        "videomae_tiny": ("videomae", 8, 64, 2),
        "timesformer_b": ("timesformer", 8, 224, 1),
        "timesformer_tiny": ("timesformer", 8, 64, 1),
    }
    for name, (family, frames, size, frame_multiple) in expected.items():
        spec = get_spec(name)
        assert (spec.family, spec.default_frames, spec.default_size) == (family, frames, size)
        assert (spec.frame_multiple, spec.size_multiple) == (frame_multiple, 16)
        assert spec.load_pretrained is load_hf  # hf_checkpoint.load_hf_pretrained, imported lazily
        assert spec.tiny == name.endswith("_tiny")
        assert all(source.startswith("hf:") for source in spec.pretrained)


@pytest.mark.parametrize(
    ("name", "params", "hidden", "layers"),
    [
        # parameter counts of transformers' *ForVideoClassification with 400 classes
        ("videomae_s", 22_033_936, 384, 12),
        ("videomae_b", 86_534_800, 768, 12),
        ("videomae_l", 304_270_736, 1024, 24),
    ],
)
def test_big_videomae_builds_on_meta_with_its_size(name, params, hidden, layers):
    spec = get_spec(name)
    with torch.device("meta"):  # VideoMAE parameters do not depend on frames or size
        model = spec.builder(400, 4, 32, HeadSpec(), 0.1)
    assert sum(p.numel() for p in model.parameters()) == params
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (hidden, layers)
    assert (model.config.num_frames, model.config.image_size) == (4, 32)
    assert model.videomae.embeddings.position_embeddings.shape == (1, 2 * 2 * 2, hidden)
    assert model.num_layers == layers


def test_timesformer_b_builds_on_meta_at_8x224():
    with torch.device("meta"):
        model = get_spec("timesformer_b").builder(400, 8, 224, HeadSpec(), 0.1)
    assert sum(p.numel() for p in model.parameters()) == 121_566_352  # == HF K400 model
    assert (model.config.num_frames, model.config.image_size) == (8, 224)
    assert model.config.attention_type == "divided_space_time"
    assert model.timesformer.embeddings.time_embeddings.shape == (1, 8, 768)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("frames", [4, 8, 16])
def test_tiny_models_train_on_real_clips(real_frames, name, frames):
    model = build(name, frames=frames).train()
    clip = real_clip(real_frames, name, frames, 64)
    out = model(clip)
    assert out.shape == (2, 5)
    out.logsumexp(dim=1).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    patch_grad = next(g for n, g in grads.items() if "patch_embeddings.projection.weight" in n)
    assert patch_grad.abs().sum() > 0 and grads["head.layers.1.weight"].abs().sum() > 0


@pytest.mark.parametrize("name", TINY)
def test_model_rejects_clips_of_another_shape(real_frames, name):
    model = build(name, frames=8, size=64)
    with pytest.raises(ModelError, match=r"built for \[B, 3, 8, 64, 64\]"):
        model(real_clip(real_frames, name, 16, 64))
    with pytest.raises(ModelError, match="built for"):
        model(real_clip(real_frames, name, 8, 96))


def test_builders_reject_clip_shapes_off_the_patch_grid():
    with pytest.raises(ModelError, match="divisible"):
        build("videomae_tiny", frames=7)
    with pytest.raises(ModelError, match="divisible"):
        build("timesformer_tiny", size=72)


@pytest.mark.parametrize("name", TINY)
def test_forward_matches_transformers_classification_model(real_frames, name):
    model = build(name)
    config = hf_config(model)
    hf_model = HF_CLASSES[model.family](config).eval()
    hf_model.load_state_dict(to_hf_state(model), strict=True)
    clip = real_clip(real_frames, name, 8, 64)
    with torch.no_grad():
        expected = hf_model(pixel_values=clip.permute(0, 2, 1, 3, 4)).logits
    torch.testing.assert_close(logits(model, clip), expected)


@pytest.mark.parametrize("name", TINY)
def test_drop_path_is_stochastic_in_training_only(real_frames, name):
    clip = real_clip(real_frames, name, 8, 64)
    plain = build(name, drop_path=0.0, head=HeadSpec(dropout=0.0)).train()
    dropped = build(name, drop_path=0.5, head=HeadSpec(dropout=0.0)).train()
    assert list(plain.state_dict()) == list(dropped.state_dict())  # HF key names unchanged
    assert torch.equal(logits(plain, clip), logits(plain, clip))
    first = logits(dropped, clip)
    assert any(not torch.equal(first, logits(dropped, clip)) for _ in range(4))
    dropped.eval()
    torch.testing.assert_close(logits(dropped, clip), logits(plain.eval(), clip))


def test_eager_attention_gives_same_logits_and_counts_attention_flops(real_frames):
    clip = real_clip(real_frames, "videomae_tiny", 8, 64)
    sdpa = build("videomae_tiny")
    eager = build("videomae_tiny", eager_attention=True)
    assert eager.config._attn_implementation == "eager"
    torch.testing.assert_close(logits(eager, clip), logits(sdpa, clip))
    counts = []
    for model in (sdpa, eager):
        with FlopCounterMode(display=False) as counter:
            logits(model, clip)
        counts.append(counter.get_total_flops())
    tokens, width, layers = 4 * 4 * 4, 128, 2  # QK^T and AV: 2 matmuls of 2*T*T*D per clip
    assert counts[1] - counts[0] == layers * 2 * (2 * tokens * tokens * width) * clip.shape[0]


@pytest.mark.parametrize("name", TINY)
def test_layer_ids_and_no_weight_decay(name):
    model = build(name)
    depth = model.num_layers
    ids = {n: model.layer_id(n) for n, _ in model.named_parameters()}
    assert set(ids.values()) == set(range(depth + 2))
    for param_name, layer in ids.items():
        if ".embeddings." in param_name:
            assert layer == 0
        elif ".encoder.layer." in param_name:
            assert layer == int(param_name.split(".")[3]) + 1
        else:
            assert param_name.startswith(("head.", "fc_norm.", "timesformer.layernorm."))
            assert layer == depth + 1
    no_decay = model.no_weight_decay()
    for param_name, param in model.named_parameters():
        table = param_name.endswith(("position_embeddings", "time_embeddings", "cls_token"))
        assert (param_name in no_decay) == (param.ndim <= 1 or table), param_name
    if model.family == "timesformer":
        assert {"timesformer.embeddings.time_embeddings", "timesformer.embeddings.cls_token"} <= (
            no_decay
        )


# ---------------------------------------------------------------------------------------------
# Loading weights


@pytest.mark.parametrize("name", TINY)
def test_save_pretrained_folder_round_trip(real_frames, name, tmp_path):
    source = build(name)
    save_hf_folder(source, tmp_path / "hf")
    assert (tmp_path / "hf" / "config.json").is_file()
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    target = build(name, seed=1)
    report = load_hf_pretrained(target, str(tmp_path / "hf"))
    assert not report.missing and not report.unexpected and not report.new_head
    assert target.load_report is report
    clip = real_clip(real_frames, name, 8, 64)
    assert torch.equal(logits(target, clip), logits(source, clip))


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("fmt", ["safetensors", "lightning_pt"])
def test_state_dict_file_round_trip(real_frames, name, fmt, tmp_path):
    source = build(name)
    if fmt == "safetensors":
        path = tmp_path / "weights.safetensors"
        save_file(source.state_dict(), str(path))
    else:  # a Lightning-style checkpoint: {"state_dict": {"model.<key>": ...}}
        path = tmp_path / "last.pt"
        torch.save({"state_dict": {f"model.{k}": v for k, v in source.state_dict().items()}}, path)
    target = build(name, seed=1)
    report = load_hf_pretrained(target, str(path))
    assert not report.missing and not report.unexpected and not report.adapted
    clip = real_clip(real_frames, name, 8, 64)
    assert torch.equal(logits(target, clip), logits(source, clip))


@pytest.mark.parametrize("name", TINY)
def test_other_class_count_loads_backbone_and_reports_new_head(real_frames, name, tmp_path):
    source = build(name, num_classes=5)
    save_hf_folder(source, tmp_path / "hf")
    target = build(name, num_classes=7)
    fresh_head = target.head.layers[1].weight.clone()
    report = load_hf_pretrained(target, str(tmp_path / "hf"))
    assert report.new_head
    assert not report.missing and not report.unexpected and not report.adapted
    assert torch.equal(target.head.layers[1].weight, fresh_head)
    own = target.state_dict()
    for key, value in source.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(own[key], value), key
    assert logits(target, real_clip(real_frames, name, 8, 64)).shape == (2, 7)


def test_videomae_pretraining_weights_fine_tune(tmp_path):
    size = ViTSize(hidden=128, layers=2, heads=4, mlp=256)  # videomae_tiny's encoder
    config = VideoMAEConfig(
        num_frames=8, image_size=64, hidden_size=size.hidden, num_hidden_layers=size.layers,
        num_attention_heads=size.heads, intermediate_size=size.mlp, use_mean_pooling=False,
        decoder_hidden_size=64, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
        decoder_intermediate_size=128,
    )  # fmt: skip
    torch.manual_seed(0)
    pretrain = VideoMAEForPreTraining(config)
    pretrain.save_pretrained(tmp_path / "pretrain")
    model = build("videomae_tiny", num_classes=3)
    report = load_hf_pretrained(model, f"hf:{tmp_path / 'pretrain'}")
    assert report.new_head
    assert report.missing == ["fc_norm.bias", "fc_norm.weight"]
    assert "encoder_to_decoder.weight" in report.unexpected and "mask_token" in report.unexpected
    assert any(k.startswith("decoder.decoder_layers.0.") for k in report.unexpected)
    assert "videomae.layernorm.weight" in report.unexpected  # pretraining-only final norm
    theirs = pretrain.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("videomae."):
            assert torch.equal(value, theirs[key]), key


@pytest.mark.parametrize("name", TINY)
def test_hf_base_model_state_dict_loads_backbone(name, tmp_path):
    source = build(name)
    torch.save(getattr(source, source.backbone_prefix).state_dict(), tmp_path / "base.pt")
    target = build(name, seed=1)
    report = load_hf_pretrained(target, str(tmp_path / "base.pt"))
    assert report.new_head and not report.unexpected
    assert report.missing == (
        ["fc_norm.bias", "fc_norm.weight"] if name.startswith("videomae") else []
    )
    own = target.state_dict()
    for key, value in source.state_dict().items():
        if key.startswith(source.backbone_prefix):
            assert torch.equal(own[key], value), key


# ---------------------------------------------------------------------------------------------
# Other clip lengths and sizes


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("with_config", [True, False])
def test_weights_at_8x64_load_at_16x96(real_frames, name, with_config, tmp_path):
    source = build(name, frames=8, size=64)
    if with_config:
        save_hf_folder(source, tmp_path / "hf")
        path = str(tmp_path / "hf")
    else:
        path = str(tmp_path / "weights.safetensors")
        save_file(source.state_dict(), path)
    target = build(name, frames=16, size=96)
    report = load_hf_pretrained(target, path)
    assert not report.missing and not report.unexpected and not report.new_head
    if name.startswith("timesformer"):
        assert report.adapted == ["position_embeddings: 4x4 -> 6x6", "time_embeddings: 8 -> 16"]
    else:  # the fixed sinusoid table is recomputed for the new grid, nothing to adapt
        assert report.adapted == []
        table = target.videomae.embeddings.position_embeddings
        torch.testing.assert_close(table, get_sinusoid_encoding_table(8 * 6 * 6, 128))
    own = target.state_dict()
    for key, value in source.state_dict().items():
        if "embeddings.position_embeddings" not in key and "time_embeddings" not in key:
            assert torch.equal(own[key], value), key
    out = logits(target, real_clip(real_frames, name, 16, 96))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def linear_table(grid: tuple[int, ...], dim: int, prefix: int = 0) -> torch.Tensor:
    """``[1, prefix + prod(grid), dim]`` with value ``sum_i slope_i(c) * coord_i / (n_i - 1) +
    c`` at each grid cell (coordinates normalized to [0, 1]); prefix rows are -7."""
    slopes = torch.arange(1, len(grid) + 1, dtype=torch.float64).view(-1, 1) * torch.linspace(
        0.5, 1.5, dim, dtype=torch.float64
    )
    axes = [torch.linspace(0, 1, n, dtype=torch.float64) for n in grid]
    coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(grid))
    cells = coords @ slopes + torch.arange(dim, dtype=torch.float64)
    return torch.cat([torch.full((prefix, dim), -7.0, dtype=torch.float64), cells]).float()[None]


def test_timesformer_tables_interpolate_linearly(tmp_path):
    source = build("timesformer_tiny", frames=8, size=64)
    embeddings = source.timesformer.embeddings
    with torch.no_grad():
        embeddings.position_embeddings.copy_(linear_table((4, 4), 96, prefix=1))
        embeddings.time_embeddings.copy_(linear_table((8,), 96))
    save_hf_folder(source, tmp_path / "hf")

    same = build("timesformer_tiny", frames=8, size=64)
    assert load_hf_pretrained(same, str(tmp_path / "hf")).adapted == []
    assert torch.equal(same.timesformer.embeddings.time_embeddings, embeddings.time_embeddings)

    target = build("timesformer_tiny", frames=16, size=96)
    load_hf_pretrained(target, str(tmp_path / "hf"))
    resized = target.timesformer.embeddings
    torch.testing.assert_close(resized.position_embeddings, linear_table((6, 6), 96, prefix=1))
    torch.testing.assert_close(resized.time_embeddings, linear_table((16,), 96))
    assert torch.equal(resized.position_embeddings[0, 0], embeddings.position_embeddings[0, 0])


def test_videomae_learned_table_interpolates_in_3d_and_is_kept(real_frames, tmp_path):
    source = build("videomae_tiny", frames=8, size=64)
    state = dict(source.state_dict())
    state["videomae.embeddings.position_embeddings"] = linear_table((4, 4, 4), 128)
    folder = tmp_path / "learned"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(
        json.dumps({"model_type": "videomae", "num_frames": 8, "image_size": 64})
    )
    target = build("videomae_tiny", frames=16, size=96)
    report = load_hf_pretrained(target, str(folder))
    assert report.adapted == ["position_embeddings: 4x4x4 -> 8x6x6"]
    assert not report.unexpected
    table = target.state_dict()["videomae.embeddings.position_embeddings"]
    torch.testing.assert_close(table, linear_table((8, 6, 6), 128))

    save_file(target.state_dict(), str(tmp_path / "again.safetensors"))
    reloaded = build("videomae_tiny", frames=16, size=96)
    assert load_hf_pretrained(reloaded, str(tmp_path / "again.safetensors")).adapted == []
    clip = real_clip(real_frames, "videomae_tiny", 16, 96)
    assert torch.equal(logits(reloaded, clip), logits(target, clip))


# ---------------------------------------------------------------------------------------------
# Errors


def _in_thread(fn, *args, timeout: float = 60):
    """Run ``fn`` with a time limit: a hub lookup must fail fast, never hang."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result(timeout=timeout)


def test_uncached_hub_id_offline_is_a_model_error_without_waiting():
    assert constants.HF_HUB_OFFLINE  # set by conftest: no test may reach the network
    model = build("videomae_tiny")
    with pytest.raises(ModelError) as err:
        _in_thread(load_hf_pretrained, model, "hf:motionfit-tests/never-cached-videomae")
    message = str(err.value)
    assert "HF_HUB_OFFLINE is set" in message
    assert str(constants.HF_HUB_CACHE) in message
    assert "hf download motionfit-tests/never-cached-videomae --local-dir" in message


def test_unreachable_hub_is_a_model_error(monkeypatch):
    def no_network(repo_id, filename, local_files_only=False):
        if local_files_only:
            raise LocalEntryNotFoundError(f"{repo_id}/{filename} is not cached")
        raise OSError("ConnectError: [Errno -2] Name or service not known")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_checkpoint, "hf_hub_download", no_network)
    # the quick probe passed, the download itself failed
    monkeypatch.setattr(hf_checkpoint, "hub_unreachable_reason", lambda: None)
    with pytest.raises(ModelError, match=r"the hub is unreachable \(OSError\)"):
        load_hf_pretrained(build("videomae_tiny"), "MCG-NJU/videomae-base-finetuned-kinetics")
    # the quick probe failed: only the local cache is asked, and the error says why
    calls = []
    monkeypatch.setattr(
        hf_checkpoint,
        "hub_unreachable_reason",
        lambda: "the hub (hub.test) cannot be reached: refused",
    )
    monkeypatch.setattr(
        hf_checkpoint, "hf_hub_download", lambda *a, **k: calls.append(k) or no_network(*a, **k)
    )
    with pytest.raises(ModelError, match=r"cannot be reached: refused"):
        load_hf_pretrained(build("videomae_tiny"), "MCG-NJU/videomae-base-finetuned-kinetics")
    assert calls and all(call.get("local_files_only") for call in calls)


def test_hub_id_in_the_local_cache_loads_offline(real_frames, tmp_path, monkeypatch):
    source = build("timesformer_tiny")
    repo = tmp_path / "hub" / "models--motionfit-tests--tiny-timesformer"
    commit = "0123456789abcdef0123456789abcdef01234567"
    save_hf_folder(source, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    target = build("timesformer_tiny", seed=1)
    report = _in_thread(load_hf_pretrained, target, "hf:motionfit-tests/tiny-timesformer")
    assert not report.missing and not report.unexpected
    clip = real_clip(real_frames, "timesformer_tiny", 8, 64)
    assert torch.equal(logits(target, clip), logits(source, clip))


def test_mismatched_checkpoints_are_model_errors(tmp_path):
    save_hf_folder(build("videomae_tiny"), tmp_path / "videomae")
    wide = build_videomae(5, 8, 64, HeadSpec(), 0.0, size=ViTSize(64, 2, 2, 128))
    with pytest.raises(ModelError, match=r"hidden_size=128 \(model: 64\).*videomae_tiny"):
        load_hf_pretrained(wide, str(tmp_path / "videomae"))
    with pytest.raises(ModelError, match="'videomae' model"):
        load_hf_pretrained(build("timesformer_tiny"), str(tmp_path / "videomae"))
    save_file(build("videomae_tiny").state_dict(), str(tmp_path / "w.safetensors"))
    with pytest.raises(ModelError, match="do not fit videomae model"):
        load_hf_pretrained(wide, str(tmp_path / "w.safetensors"))
    save_file({"fc.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="backbone tensors match"):
        load_hf_pretrained(build("videomae_tiny"), str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="not found"):
        load_hf_pretrained(build("videomae_tiny"), str(tmp_path / "missing.safetensors"))


# ---------------------------------------------------------------------------------------------
# Recipes


@pytest.mark.parametrize(
    ("recipe", "model_name", "layer_decay"),
    [("videomae_b", "videomae_b", 0.75), ("videomae_s", "videomae_s", 0.75),
     ("timesformer", "timesformer_b", 1.0)],
)  # fmt: skip
def test_recipes_validate_and_match_their_model(recipe, model_name, layer_decay):
    config = resolve_model_defaults(load_config(recipe))
    spec = get_spec(config.model.name)
    assert config.model.name == model_name and spec.recipe == recipe
    assert config.sampling.num_frames == spec.default_frames
    assert config.augment.crop_size == spec.default_size
    assert config.augment.mean == spec.mean and config.augment.std == spec.std
    assert config.optim.layer_decay == layer_decay
    assert f"hf:{config.model.pretrained}" in spec.pretrained
    assert math.isclose(config.model.drop_path, 0.1)
