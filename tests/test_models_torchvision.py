"""torchvision families (Video Swin, MViT v1/v2, R(2+1)D): building, forward/backward, weights
(local files and the torch hub cache), clip-length/size adaptation, position-table resizing,
optimizer metadata and the recipes. Full-size models run on the ``meta`` device; real
arithmetic uses the tiny variants and real encoded clips."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models.video import SwinTransformer3d

from motionfit.config import load_config
from motionfit.errors import ModelError
from motionfit.models.build import build_model
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.head import HeadSpec
from motionfit.models.posembed import resize_flat_grid, resize_grid, resize_table
from motionfit.models.registry import get_spec, list_specs
from motionfit.models.tv_mvit import (
    MVIT_V1_B,
    MVIT_V2_S,
    MViTArch,
    adapt_mvit_positions,
    build_mvit,
    mvit_block_settings,
)
from motionfit.models.tv_swin import SWIN3D_TINY, SubWindowAttention3d
from motionfit.models.tv_weights import resolve_torchvision_weights
from motionfit.models.weights import hub_cache_path

TV_FAMILIES = {"swin", "mvit"}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread: on 2 shared cores, more threads spin and run ~50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TV_MODELS = [s.name for s in list_specs() if s.family in TV_FAMILIES] + ["r2plus1d_18"]
TINY = ["swin3d_tiny", "mvit_tiny"]
RECIPES = ["swin3d_t", "swin3d_b", "mvit_v2_s", "mvit_v1_b", "r2plus1d_18"]


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def real_clip(real_videos_dir: Path) -> torch.Tensor:
    """Sixteen consecutive frames of a real Kinetics clip at 64x64, normalized, ``[1, C, T, H,
    W]``."""
    frames = []
    with av.open(str(real_videos_dir / "kinetics_armwrestling_340x256_28fps.mp4")) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24", width=64, height=64))
            if len(frames) == 16:
                break
    video = torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).float() / 255
    mean = torch.tensor([0.45, 0.45, 0.45]).view(3, 1, 1, 1)
    return ((video - mean) / 0.225).unsqueeze(0)


# ---------------------------------------------------------------------------------------------
# position-table resizing


def test_resize_is_identity_when_sizes_match() -> None:
    table = torch.randn(5, 7, 3)
    assert resize_grid(table, (5, 7)) is table
    rows = torch.randn(9, 4)
    assert resize_table(rows, 9) is rows


def test_linear_tables_stay_linear_in_1d_2d_3d() -> None:
    slope = torch.tensor([0.5, -2.0])
    table_1d = torch.arange(7.0)[:, None] * slope + 1.0  # [7, 2]
    resized = resize_table(table_1d, 13)
    expected = torch.linspace(0, 6, 13)[:, None] * slope + 1.0
    torch.testing.assert_close(resized, expected)
    downsized = resize_table(table_1d, 4)
    torch.testing.assert_close(downsized, torch.linspace(0, 6, 4)[:, None] * slope + 1.0)

    y, x = torch.meshgrid(torch.arange(4.0), torch.arange(6.0), indexing="ij")
    plane = torch.stack([2 * y - x, y + 3 * x], dim=-1)  # [4, 6, 2]
    ny, nx = torch.meshgrid(torch.linspace(0, 3, 7), torch.linspace(0, 5, 11), indexing="ij")
    torch.testing.assert_close(
        resize_grid(plane, (7, 11)), torch.stack([2 * ny - nx, ny + 3 * nx], dim=-1)
    )

    t, y, x = torch.meshgrid(torch.arange(2.0), torch.arange(3.0), torch.arange(3.0), indexing="ij")
    volume = (t - 2 * y + 0.5 * x)[..., None]
    nt, ny, nx = torch.meshgrid(
        torch.linspace(0, 1, 4), torch.linspace(0, 2, 5), torch.linspace(0, 2, 5), indexing="ij"
    )
    torch.testing.assert_close(resize_grid(volume, (4, 5, 5)), (nt - 2 * ny + 0.5 * nx)[..., None])


def test_relative_table_keeps_its_zero_offset_at_the_centre() -> None:
    table = torch.randn(2 * 7 - 1, 4)  # distances -6..6
    resized = resize_table(table, 2 * 11 - 1)  # distances -10..10
    torch.testing.assert_close(resized[10], table[6])
    torch.testing.assert_close(resized[[0, -1]], table[[0, -1]])


def test_flat_grid_keeps_prefix_tokens_and_batch_dims() -> None:
    tokens = torch.randn(1, 1 + 2 * 3 * 3, 8)
    out = resize_flat_grid(tokens, (2, 3, 3), (4, 5, 5), num_prefix_tokens=1)
    assert out.shape == (1, 1 + 4 * 5 * 5, 8)
    torch.testing.assert_close(out[0, 0], tokens[0, 0])
    body = resize_grid(tokens[0, 1:].reshape(2, 3, 3, 8), (4, 5, 5)).reshape(-1, 8)
    torch.testing.assert_close(out[0, 1:], body)
    assert resize_flat_grid(tokens, (2, 3, 3), (2, 3, 3), 1) is tokens
    with pytest.raises(ValueError, match="positions"):
        resize_flat_grid(tokens, (3, 3, 3), (4, 4, 4), 1)


# ---------------------------------------------------------------------------------------------
# building and running


@pytest.mark.parametrize("arch,tv_builder", [(MVIT_V2_S, "mvit_v2_s"), (MVIT_V1_B, "mvit_v1_b")])
def test_mvit_settings_reproduce_torchvision_architectures(arch: MViTArch, tv_builder: str) -> None:
    with torch.device("meta"):
        ours = build_mvit(arch, 400, 16, 224, HeadSpec(), 0.2)
        ref = torchvision.models.get_model(tv_builder)
    ours_shapes = {k: v.shape for k, v in ours.backbone.state_dict().items()}
    ref_shapes = {k: v.shape for k, v in ref.state_dict().items() if not k.startswith("head.")}
    assert ours_shapes == ref_shapes
    assert len(mvit_block_settings(arch)) == 16


def test_every_torchvision_model_is_registered_with_its_spec() -> None:
    names = {s.name for s in list_specs()}
    expected = {"swin3d_t", "swin3d_s", "swin3d_b", "swin3d_tiny", "mvit_v1_b", "mvit_v2_s"}
    assert expected | {"mvit_tiny", "r2plus1d_18"} <= names
    assert get_spec("swin3d_t").pretrained == ("torchvision:KINETICS400_V1",)
    assert "torchvision:KINETICS400_IMAGENET22K_V1" in get_spec("swin3d_b").pretrained


@pytest.mark.parametrize("name", TV_MODELS)
@pytest.mark.parametrize("frames", [8, 16, 32])
def test_every_model_runs_forward_and_backward_on_meta(name: str, frames: int) -> None:
    spec = get_spec(name)
    with torch.device("meta"):
        model = build_model(name, num_classes=7, num_frames=frames, image_size=spec.default_size)
        video = torch.zeros(2, 3, frames, spec.default_size, spec.default_size)
    logits = model(video)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads[:3] + grads[-2:])


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("frames,size", [(8, 64), (16, 64), (8, 96)])
def test_tiny_models_train_on_cpu(name: str, frames: int, size: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=5, num_frames=frames, image_size=size)
    video = torch.randn(2, 3, frames, size, size)
    logits = model(video)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    first = next(model.backbone.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0
    assert model.head.layers[-1].weight.grad.abs().sum() > 0


def test_real_clip_runs_through_every_tiny_model(real_clip: torch.Tensor) -> None:
    for name in TINY:
        model = build_model(name, num_classes=4, num_frames=16, image_size=64).eval()
        with torch.no_grad():
            first, second = model(real_clip), model(real_clip)
        assert first.shape == (1, 4) and torch.isfinite(first).all()
        assert torch.equal(first, second)


def test_build_model_rejects_bad_inputs() -> None:
    with pytest.raises(ModelError, match="multiple of 2"):
        build_model("swin3d_tiny", num_classes=3, num_frames=7)
    with pytest.raises(ModelError, match="multiple of 32"):
        build_model("mvit_tiny", num_classes=3, image_size=80)
    with pytest.raises(ModelError, match="did you mean 'swin3d_t'"):
        build_model("swin3d_tt", num_classes=3)
    model = build_model("mvit_tiny", num_classes=3, num_frames=8, image_size=64)
    with pytest.raises(ModelError, match=r"\(8, 64, 64\)"):
        model(torch.zeros(1, 3, 16, 64, 64))


def test_drop_path_reaches_stochastic_depth() -> None:
    swin = build_model("swin3d_tiny", num_classes=3, drop_path=0.3)
    mvit = build_model("mvit_tiny", num_classes=3, drop_path=0.3)
    assert swin.backbone.features[6][-1].stochastic_depth.p == pytest.approx(0.3)
    assert mvit.backbone.blocks[-1].stochastic_depth.p == pytest.approx(0.3)


def test_head_spec_sets_dropout_and_hidden_layer() -> None:
    model = build_model("swin3d_tiny", num_classes=3, head=HeadSpec(dropout=0.2, hidden_dim=16))
    linears = [m for m in model.head.layers if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [16, 3]
    assert model.head.layers[0].p == pytest.approx(0.2)


def _expected_sub_window_bias(module: SubWindowAttention3d, sub: list[int]) -> torch.Tensor:
    """The full-window bias between the sub-window's tokens, pair by pair."""
    full = module.get_relative_position_bias(module.window_size)[0]
    _, wh, ww = module.window_size
    tokens = list(itertools.product(range(sub[0]), range(sub[1]), range(sub[2])))
    flat = [(d * wh + h) * ww + w for d, h, w in tokens]
    return torch.stack([torch.stack([full[:, i, j] for j in flat], -1) for i in flat], -2)


def test_shrunk_swin_windows_use_their_own_token_pairs() -> None:
    torch.manual_seed(0)
    module = SubWindowAttention3d(16, [4, 4, 4], [0, 0, 0], num_heads=2)
    sub = [2, 3, 2]
    expected = _expected_sub_window_bias(module, sub)
    torch.testing.assert_close(module.get_relative_position_bias(sub)[0], expected)
    temporal_only = [2, 4, 4]  # torchvision is right when only time shrinks, wrong otherwise
    torch.testing.assert_close(
        module.get_relative_position_bias(temporal_only)[0],
        _expected_sub_window_bias(module, temporal_only),
    )
    torchvision_bias = super(SubWindowAttention3d, module).get_relative_position_bias(sub)[0]
    assert not torch.allclose(torchvision_bias, expected)


def test_swin_matches_torchvision_when_no_window_shrinks() -> None:
    torch.manual_seed(0)
    model = build_model("swin3d_tiny", num_classes=400, num_frames=8, image_size=128).eval()
    reference = SwinTransformer3d(
        patch_size=list(SWIN3D_TINY.patch_size),
        embed_dim=SWIN3D_TINY.embed_dim,
        depths=list(SWIN3D_TINY.depths),
        num_heads=list(SWIN3D_TINY.num_heads),
        window_size=list(SWIN3D_TINY.window_size),
    ).eval()
    state = {k.removeprefix("backbone."): v for k, v in model.state_dict().items()}
    state["head.weight"] = state.pop("head.layers.1.weight")
    state["head.bias"] = state.pop("head.layers.1.bias")
    reference.load_state_dict(state)
    video = torch.randn(1, 3, 8, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(video), reference(video))


# ---------------------------------------------------------------------------------------------
# weights


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_saved_weights_reload_to_identical_logits(
    name: str, suffix: str, tmp_path: Path, real_clip: torch.Tensor
) -> None:
    model = build_model(name, num_classes=4, num_frames=16, image_size=64).eval()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(model.state_dict(), str(path))
    else:
        torch.save(model.state_dict(), path)
    reloaded = build_model(name, 4, 16, 64, pretrained=str(path)).eval()
    with torch.no_grad():
        assert torch.equal(model(real_clip), reloaded(real_clip))
    report = reloaded.load_report
    assert report is not None and not report.new_head
    assert report.missing == [] and report.unexpected == [] and report.adapted == []


def test_lightning_style_checkpoint_loads(tmp_path: Path) -> None:
    model = build_model("swin3d_tiny", num_classes=4)
    path = tmp_path / "last.ckpt.pt"
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state["loss_weights.class_weight"] = torch.ones(4)  # other modules of a training task
    torch.save({"state_dict": state}, path)
    reloaded = build_model("swin3d_tiny", num_classes=4, pretrained=str(path))
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_other_class_count_keeps_backbone_and_reports_new_head(tmp_path: Path) -> None:
    model = build_model("mvit_tiny", num_classes=10)
    path = tmp_path / "ten.safetensors"
    save_file(model.state_dict(), str(path))
    reloaded = build_model("mvit_tiny", num_classes=3, pretrained=str(path))
    report = reloaded.load_report
    assert report.new_head and report.missing == [] and report.unexpected == []
    assert "new head" in report.summary()
    saved = model.state_dict()
    for key, value in reloaded.state_dict().items():
        if key.startswith("backbone."):
            assert torch.equal(value, saved[key]), key
    assert reloaded.head.layers[-1].weight.shape == (3, model.head.classifier_in)


def test_mvit_saved_at_8_frames_loads_at_16_frames_and_another_size(
    tmp_path: Path, real_clip: torch.Tensor
) -> None:
    model = build_model("mvit_tiny", num_classes=4, num_frames=8, image_size=64)
    path = tmp_path / "mvit8.safetensors"
    save_file(model.state_dict(), str(path))
    bigger = build_model("mvit_tiny", 4, num_frames=16, image_size=96, pretrained=str(path))
    report = bigger.load_report
    assert report.missing == [] and report.unexpected == [] and not report.new_head
    key = "backbone.blocks.0.attn.rel_pos_t"
    assert any(line.startswith(f"{key}: (7, 24) -> (15, 24)") for line in report.adapted)
    assert sum("rel_pos_h" in line for line in report.adapted) == 5
    torch.testing.assert_close(bigger.state_dict()[key], resize_table(model.state_dict()[key], 15))
    clip = torch.nn.functional.interpolate(real_clip, size=(16, 96, 96))
    assert bigger(clip).shape == (1, 4)


def test_swin_saved_at_8_frames_loads_at_16_frames_unchanged(tmp_path: Path) -> None:
    model = build_model("swin3d_tiny", num_classes=4, num_frames=8, image_size=64)
    path = tmp_path / "swin8.pt"
    torch.save(model.state_dict(), path)
    bigger = build_model("swin3d_tiny", 4, num_frames=16, image_size=96, pretrained=str(path))
    assert bigger.load_report.adapted == []  # its tables depend on the window, not the clip
    assert all(torch.equal(v, bigger.state_dict()[k]) for k, v in model.state_dict().items())
    assert bigger(torch.randn(1, 3, 16, 96, 96)).shape == (1, 4)


def test_mvit_v1_separable_position_embeddings_are_resized() -> None:
    arch = MViTArch((1, 1, 1, 1), 16, 1, v2=False, kv_stride=(1, 4, 4))
    small = build_mvit(arch, 3, 8, 64, HeadSpec(), 0.0)
    large = build_mvit(arch, 3, 16, 96, HeadSpec(), 0.0)
    state = small.state_dict()
    adapted = adapt_mvit_positions(state, large.state_dict())
    assert sorted(line.split(":")[0] for line in adapted) == [
        "backbone.pos_encoding.spatial_pos",
        "backbone.pos_encoding.temporal_pos",
    ]
    old_spatial = small.state_dict()["backbone.pos_encoding.spatial_pos"]
    expected = resize_flat_grid(old_spatial, (16, 16), (24, 24))
    torch.testing.assert_close(state["backbone.pos_encoding.spatial_pos"], expected)
    assert state["backbone.pos_encoding.temporal_pos"].shape == (8, 16)
    large.load_state_dict(state)
    assert large(torch.randn(1, 3, 16, 96, 96)).shape == (1, 3)


def test_weights_of_another_model_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "swin.safetensors"
    save_file(build_model("swin3d_tiny", num_classes=3).state_dict(), str(path))
    with pytest.raises(ModelError, match="backbone tensors match"):
        build_model("mvit_tiny", num_classes=3, pretrained=str(path))
    with pytest.raises(ModelError, match="not found"):
        build_model("mvit_tiny", num_classes=3, pretrained=str(tmp_path / "missing.pt"))
    with pytest.raises(ModelError, match="no torchvision weights"):
        build_model("mvit_tiny", num_classes=3, pretrained="KINETICS400_V1")


def test_weight_names_resolve_to_torchvision_enums() -> None:
    enum = torchvision.models.video.Swin3D_T_Weights.KINETICS400_V1
    for source in ("KINETICS400_V1", "torchvision:KINETICS400_V1", "DEFAULT"):
        assert resolve_torchvision_weights("swin3d_t", source) is enum
    assert resolve_torchvision_weights("swin3d_t", "Swin3D_T_Weights.KINETICS400_V1") is enum
    with pytest.raises(ModelError, match="another model"):
        resolve_torchvision_weights("swin3d_t", "MViT_V2_S_Weights.KINETICS400_V1")
    with pytest.raises(ModelError, match=r"Swin3D_T_Weights\.KINETICS400_V1"):
        resolve_torchvision_weights("swin3d_t", "IMAGENET1K_V1")


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache (TORCH_HOME in a temporary folder)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path / "torch" / "hub"


def test_missing_hub_weights_name_the_path_and_url(hub_dir: Path) -> None:
    url = torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1.url
    expected = hub_dir / "checkpoints" / "r2plus1d_18-91a641e6.pth"
    assert hub_cache_path(url) == expected
    with pytest.raises(ModelError) as error:
        build_model("r2plus1d_18", num_classes=3, pretrained="KINETICS400_V1")
    assert str(expected) in str(error.value) and url in str(error.value)


def test_cached_hub_weights_load_into_r2plus1d(hub_dir: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.video.r2plus1d_18().eval()
    url = torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1.url
    hub_cache_path(url).parent.mkdir(parents=True)
    torch.save(reference.state_dict(), hub_cache_path(url))

    model = build_model("r2plus1d_18", 400, 8, 64, pretrained="R2Plus1D_18_Weights.KINETICS400_V1")
    report = model.load_report
    assert report.source == "R2Plus1D_18_Weights.KINETICS400_V1"
    assert not report.new_head and report.missing == [] and report.unexpected == []
    video = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.eval()(video), reference(video))

    fresh_head = build_model("r2plus1d_18", 5, 8, 64, pretrained="KINETICS400_V1")
    assert fresh_head.load_report.new_head and fresh_head.load_report.unexpected == []
    assert torch.equal(fresh_head.backbone.stem[0].weight, reference.stem[0].weight)


def test_cached_hub_weights_load_into_swin3d_t(hub_dir: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.video.swin3d_t()
    url = torchvision.models.video.Swin3D_T_Weights.KINETICS400_V1.url
    hub_cache_path(url).parent.mkdir(parents=True)
    torch.save(reference.state_dict(), hub_cache_path(url))
    model = build_model("swin3d_t", 400, pretrained="KINETICS400_V1")
    report = model.load_report
    assert not report.new_head and report.missing == [] and report.unexpected == []
    loaded = model.state_dict()
    for key, value in reference.state_dict().items():
        ours = "head.layers.1." + key[5:] if key.startswith("head.") else "backbone." + key
        assert torch.equal(loaded[ours], value), key


# ---------------------------------------------------------------------------------------------
# optimizer metadata


def test_swin_layer_ids_follow_depth() -> None:
    model = build_model("swin3d_tiny", num_classes=3)
    assert model.num_layers == sum(SWIN3D_TINY.depths) == 8
    assert model.layer_id("backbone.patch_embed.proj.weight") == 0
    assert model.layer_id("backbone.features.0.0.attn.qkv.weight") == 1
    assert model.layer_id("backbone.features.1.reduction.weight") == 3  # merges into stage 2
    assert model.layer_id("backbone.features.2.0.mlp.0.weight") == 3
    assert model.layer_id("backbone.features.6.1.norm1.weight") == 8
    assert model.layer_id("backbone.norm.weight") == 9
    assert model.layer_id("head.layers.1.weight") == 9
    ids = [model.layer_id(n) for n, _ in model.named_parameters()]
    assert set(ids) == set(range(10)) and ids == sorted(ids)


def test_mvit_and_r2plus1d_layer_ids() -> None:
    mvit = build_model("mvit_tiny", num_classes=3)
    assert mvit.num_layers == 5
    assert mvit.layer_id("backbone.pos_encoding.class_token") == 0
    assert mvit.layer_id("backbone.conv_proj.weight") == 0
    assert mvit.layer_id("backbone.blocks.4.attn.qkv.weight") == 5
    assert mvit.layer_id("backbone.norm.weight") == 6
    with torch.device("meta"):
        cnn = build_model("r2plus1d_18", num_classes=3)
    assert cnn.num_layers == 8
    assert cnn.layer_id("backbone.stem.0.weight") == 0
    assert cnn.layer_id("backbone.layer1.0.conv1.0.0.weight") == 1
    assert cnn.layer_id("backbone.layer4.1.bn2.weight") == 8
    assert cnn.layer_id("head.layers.1.bias") == 9
    ids = [cnn.layer_id(n) for n, _ in cnn.named_parameters()]
    assert ids == sorted(ids) and set(ids) == set(range(10))


def test_no_weight_decay_covers_norms_biases_tables_and_embeddings() -> None:
    swin = build_model("swin3d_tiny", num_classes=3)
    no_decay = swin.no_weight_decay()
    assert "backbone.features.0.0.attn.relative_position_bias_table" in no_decay
    assert "backbone.features.0.0.norm1.weight" in no_decay
    assert "backbone.features.0.0.attn.qkv.bias" in no_decay
    assert "backbone.features.0.0.attn.qkv.weight" not in no_decay
    assert "head.layers.1.weight" not in no_decay
    mvit = build_model("mvit_tiny", num_classes=3)
    names = mvit.no_weight_decay()
    assert {"backbone.blocks.0.attn.rel_pos_h", "backbone.pos_encoding.class_token"} <= names
    assert "backbone.blocks.0.attn.qkv.weight" not in names
    v1 = build_mvit(MViTArch((1, 1), 8, 1, v2=False), 3, 4, 32, HeadSpec(), 0.0)
    assert {"backbone.pos_encoding.spatial_pos", "backbone.pos_encoding.temporal_pos"} <= (
        v1.no_weight_decay()
    )


# ---------------------------------------------------------------------------------------------
# recipes


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipes_validate_and_fit_their_model(recipe: str) -> None:
    config = resolve_model_defaults(load_config(recipe))
    spec = get_spec(config.model.name)
    assert config.model.name == recipe
    assert config.sampling.num_frames % spec.frame_multiple == 0
    assert config.augment.crop_size % spec.size_multiple == 0
    tv_weights = resolve_torchvision_weights(spec.name, config.model.pretrained)
    assert f"torchvision:{tv_weights.name}" in spec.pretrained
    assert config.augment.mean == pytest.approx(spec.mean)
    assert config.augment.std == pytest.approx(spec.std)
    assert spec.recipe == recipe
