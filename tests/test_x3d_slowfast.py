"""X3D and SlowFast: published checkpoint layouts (PyTorchVideo ``.pyth``, mmaction2 ``.pth``)
load whole into motionfit's networks, the networks match the published sizes, any clip length
runs, layer-wise LR decay has depths, and the tiny sizes train on real videos and export to
ONNX."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from run_fixtures import MODEL_SIZES, make_run, make_videos

from motionfit.errors import ModelError
from motionfit.export import export_run
from motionfit.models import build_model, get_spec
from motionfit.run import load_run
from motionfit.train.optim import param_groups

Layout = dict[str, tuple[int, ...]]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread: on 2 shared cores, more threads spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# The published layouts, written from the published code (key names and shapes only)

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
# X3D's squeeze width: round(inner / 16) to a multiple of 8, at least 8, >= 90% (round_width)
SE_WIDTH = {18: 8, 36: 8, 72: 8, 144: 16, 54: 8, 108: 8, 216: 16, 432: 32}
X3D_S = {"stem": 24, "widths": (24, 48, 96, 192), "depths": (3, 5, 11, 7), "features": 2048}
X3D_TINY = {"stem": 8, "widths": (8, 16, 32, 64), "depths": (1, 1, 2, 1), "features": 128}
SLOWFAST_TINY = {"width": 8, "beta_inv": 4, "depths": (1, 1, 1, 1), "fusion_kernel": 3}
SLOWFAST_R50 = {"width": 64, "beta_inv": 8, "depths": (3, 4, 6, 3), "fusion_kernel": 7}


def _norm(layout: Layout, prefix: str, width: int) -> None:
    for field in BN:
        layout[f"{prefix}.{field}"] = () if field == "num_batches_tracked" else (width,)


def x3d_pytorchvideo(stem, widths, depths, features, classes=400) -> Layout:
    """``pytorchvideo/models/x3d.py: create_x3d``: stem ``conv.conv_t`` (1x3x3!) and
    ``conv.conv_xy`` (5x1x1); ``branch1_norm`` only where the width changes; SE on even
    blocks as ``norm_b.1.block.{0,2}``; head ``pool.pre_conv``/``post_conv`` and ``proj``."""
    out: Layout = {"blocks.0.conv.conv_t.weight": (stem, 3, 1, 3, 3)}
    out["blocks.0.conv.conv_xy.weight"] = (stem, 1, 5, 1, 1)
    _norm(out, "blocks.0.norm", stem)
    width_in = stem
    for s, (width, depth) in enumerate(zip(widths, depths, strict=True)):
        inner = int(2.25 * width)
        for b in range(depth):
            p = f"blocks.{s + 1}.res_blocks.{b}."
            if b == 0:
                out[p + "branch1_conv.weight"] = (width, width_in, 1, 1, 1)
                if width_in != width:
                    _norm(out, p + "branch1_norm", width)
            out[p + "branch2.conv_a.weight"] = (inner, width_in if b == 0 else width, 1, 1, 1)
            _norm(out, p + "branch2.norm_a", inner)
            out[p + "branch2.conv_b.weight"] = (inner, 1, 3, 3, 3)
            _norm(out, p + "branch2.norm_b.0", inner)
            if b % 2 == 0:
                se = SE_WIDTH[inner]
                out[p + "branch2.norm_b.1.block.0.weight"] = (se, inner, 1, 1, 1)
                out[p + "branch2.norm_b.1.block.0.bias"] = (se,)
                out[p + "branch2.norm_b.1.block.2.weight"] = (inner, se, 1, 1, 1)
                out[p + "branch2.norm_b.1.block.2.bias"] = (inner,)
            out[p + "branch2.conv_c.weight"] = (width, inner, 1, 1, 1)
            _norm(out, p + "branch2.norm_c", width)
        width_in = width
    inner = int(2.25 * width_in)
    out["blocks.5.pool.pre_conv.weight"] = (inner, width_in, 1, 1, 1)
    _norm(out, "blocks.5.pool.pre_norm", inner)
    out["blocks.5.pool.post_conv.weight"] = (features, inner, 1, 1, 1)
    out["blocks.5.proj.weight"], out["blocks.5.proj.bias"] = (classes, features), (classes,)
    return out


def x3d_mmaction(stem, widths, depths, features, classes=400) -> Layout:
    """``mmaction/models/backbones/x3d.py`` + ``heads/x3d_head.py``: ``conv1_s``/``conv1_t``,
    ``layerN.M.convK.{conv,bn}``, ``downsample`` (with bn) on every first block,
    ``se_module.fc1/fc2``, ``conv5``, ``cls_head.fc1`` (linear, no bias) and ``fc2``."""
    out: Layout = {"backbone.conv1_s.conv.weight": (stem, 3, 1, 3, 3)}
    out["backbone.conv1_t.conv.weight"] = (stem, 1, 5, 1, 1)
    _norm(out, "backbone.conv1_t.bn", stem)
    width_in = stem
    for s, (width, depth) in enumerate(zip(widths, depths, strict=True)):
        inner = int(2.25 * width)
        for b in range(depth):
            p = f"backbone.layer{s + 1}.{b}."
            if b == 0:
                out[p + "downsample.conv.weight"] = (width, width_in, 1, 1, 1)
                _norm(out, p + "downsample.bn", width)
            out[p + "conv1.conv.weight"] = (inner, width_in if b == 0 else width, 1, 1, 1)
            _norm(out, p + "conv1.bn", inner)
            out[p + "conv2.conv.weight"] = (inner, 1, 3, 3, 3)
            _norm(out, p + "conv2.bn", inner)
            if b % 2 == 0:
                se = SE_WIDTH[inner]
                out[p + "se_module.fc1.weight"] = (se, inner, 1, 1, 1)
                out[p + "se_module.fc1.bias"] = (se,)
                out[p + "se_module.fc2.weight"] = (inner, se, 1, 1, 1)
                out[p + "se_module.fc2.bias"] = (inner,)
            out[p + "conv3.conv.weight"] = (width, inner, 1, 1, 1)
            _norm(out, p + "conv3.bn", width)
        width_in = width
    inner = int(2.25 * width_in)
    out["backbone.conv5.conv.weight"] = (inner, width_in, 1, 1, 1)
    _norm(out, "backbone.conv5.bn", inner)
    out["cls_head.fc1.weight"] = (features, inner)
    out["cls_head.fc2.weight"], out["cls_head.fc2.bias"] = (classes, features), (classes,)
    return out


def _resnet_blocks(out: Layout, prefix, width_in, width, depth, kt, pv: bool) -> None:
    """The bottlenecks of one ResNet-3D stage, in PyTorchVideo (``branch2.conv_a``...) or
    mmaction2 (``conv1.conv``...) names."""
    names = (
        ("branch2.conv_a", "branch2.norm_a", "branch2.conv_b", "branch2.norm_b",
         "branch2.conv_c", "branch2.norm_c", "branch1_conv", "branch1_norm")
        if pv
        else ("conv1.conv", "conv1.bn", "conv2.conv", "conv2.bn", "conv3.conv", "conv3.bn",
              "downsample.conv", "downsample.bn")
    )  # fmt: skip
    for b in range(depth):
        p = f"{prefix}{b}."
        block_in = width_in if b == 0 else 4 * width
        out[f"{p}{names[0]}.weight"] = (width, block_in, kt, 1, 1)
        _norm(out, p + names[1], width)
        out[f"{p}{names[2]}.weight"] = (width, width, 1, 3, 3)
        _norm(out, p + names[3], width)
        out[f"{p}{names[4]}.weight"] = (4 * width, width, 1, 1, 1)
        _norm(out, p + names[5], 4 * width)
        if b == 0:
            out[f"{p}{names[6]}.weight"] = (4 * width, width_in, 1, 1, 1)
            _norm(out, p + names[7], 4 * width)


def slowfast_layout(width, beta_inv, depths, fusion_kernel, pv: bool, classes=400) -> Layout:
    """``pytorchvideo/models/slowfast.py: create_slowfast`` (``pv``: ``multipathway_blocks``,
    ``multipathway_fusion.conv_fast_to_slow`` + ``norm`` after the stem and res2-res4,
    ``blocks.6.proj`` over ``[slow, fast]``) or mmaction2's ``resnet3d_slowfast.py`` +
    ``slowfast_head.py`` (``slow_path``/``fast_path``, bare ``conv1_lateral``/
    ``layerN_lateral`` convolutions, ``cls_head.fc_cls`` over ``[fast, slow]``)."""
    fast = width // beta_inv
    out: Layout = {}
    stems = ("blocks.0.multipathway_blocks.0.", "blocks.0.multipathway_blocks.1.")
    if not pv:
        stems = ("backbone.slow_path.conv1.", "backbone.fast_path.conv1.")
    for p, w, kt in ((stems[0], width, 1), (stems[1], fast, 5)):
        out[p + "conv.weight"] = (w, 3, kt, 7, 7)
        _norm(out, p + ("norm" if pv else "bn"), w)
    slow_in, fast_in = width, fast
    for i, depth in enumerate(depths):
        lateral = (2 * fast_in, fast_in, fusion_kernel, 1, 1)
        if pv:
            out[f"blocks.{i}.multipathway_fusion.conv_fast_to_slow.weight"] = lateral
            _norm(out, f"blocks.{i}.multipathway_fusion.norm", 2 * fast_in)
        else:
            name = "conv1_lateral" if i == 0 else f"layer{i}_lateral"
            out[f"backbone.slow_path.{name}.conv.weight"] = lateral
        slow_in += 2 * fast_in
        for path, w_in, w, kt in (
            ("0", slow_in, width * 2**i, 1 if i < 2 else 3),
            ("1", fast_in, fast * 2**i, 3),
        ):
            prefix = (
                f"blocks.{i + 1}.multipathway_blocks.{path}.res_blocks."
                if pv
                else f"backbone.{'slow' if path == '0' else 'fast'}_path.layer{i + 1}."
            )
            _resnet_blocks(out, prefix, w_in, w, depth, kt, pv)
        slow_in, fast_in = 4 * width * 2**i, 4 * fast * 2**i
    head = "blocks.6.proj" if pv else "cls_head.fc_cls"
    out[f"{head}.weight"], out[f"{head}.bias"] = (classes, slow_in + fast_in), (classes,)
    return out


def random_state(layout: Layout, seed: int = 0) -> dict[str, torch.Tensor]:
    """Distinct random values for every tensor of ``layout`` (batch counts: an integer)."""
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.tensor(7) if not shape else torch.rand(shape, generator=generator) + 0.5
        for key, shape in layout.items()
    }


def assert_every_tensor_landed(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Each published tensor (but batch counts) equals exactly one of the model's, up to the
    flattening of X3D's 1x1x1 ``lin5``; the head weight is checked by the caller when its
    columns move."""
    own = [t.flatten() for k, t in model.state_dict().items() if t.dtype.is_floating_point]
    by_size: dict[int, list[torch.Tensor]] = {}
    for tensor in own:
        by_size.setdefault(tensor.numel(), []).append(tensor)
    for key, tensor in state.items():
        if tensor.dtype.is_floating_point:
            hits = [t for t in by_size.get(tensor.numel(), []) if torch.equal(t, tensor.flatten())]
            assert len(hits) == 1, key


def save(state: dict[str, torch.Tensor], path: Path, mmaction: bool = False) -> str:
    """A checkpoint file as each library writes one."""
    if mmaction:
        torch.save({"meta": {"epoch": 256}, "state_dict": state}, path)
    else:
        torch.save({"epoch": 196, "model_state": state, "cfg": "MODEL: {}"}, path)
    return str(path)


# ---------------------------------------------------------------------------------------------
# Loading the published layouts


@pytest.mark.parametrize("mmaction", [False, True], ids=["pytorchvideo", "mmaction2"])
def test_full_size_x3d_s_loads_every_published_tensor(mmaction: bool, tmp_path: Path) -> None:
    layout = (x3d_mmaction if mmaction else x3d_pytorchvideo)(**X3D_S)
    state = random_state(layout)
    path = save(state, tmp_path / ("x3d_s.pth" if mmaction else "X3D_S.pyth"), mmaction)
    model = build_model("x3d_s", 400, pretrained=path)
    report = model.load_report
    assert report is not None
    assert not report.missing and not report.unexpected and not report.new, report.summary()
    assert len(report.loaded) == len(layout)
    # PyTorchVideo's first shortcut keeps the width and has no norm: nor has the loaded model
    assert [line.split(":")[0] for line in report.adapted] == (
        [] if mmaction else ["backbone.stages.0.0.shortcut"]
    )
    assert_every_tensor_landed(model, state)
    own = model.state_dict()
    norm2 = "conv2.bn" if mmaction else "branch2.norm_b.0"
    first = "backbone.layer1.0." if mmaction else "blocks.1.res_blocks.0."
    assert torch.equal(own["backbone.stages.0.0.norm2.weight"], state[f"{first}{norm2}.weight"])
    stem = "backbone.conv1_s.conv" if mmaction else "blocks.0.conv.conv_t"
    assert torch.equal(own["backbone.conv_s.weight"], state[f"{stem}.weight"])
    assert report.head_classes is not None and report.head_classes.matched_by == "position"


@pytest.mark.parametrize("mmaction", [False, True], ids=["pytorchvideo", "mmaction2"])
def test_slowfast_loads_every_published_tensor(mmaction: bool, tmp_path: Path) -> None:
    layout = slowfast_layout(**SLOWFAST_TINY, pv=not mmaction, classes=3)
    state = random_state(layout)
    path = save(state, tmp_path / ("sf.pth" if mmaction else "sf.pyth"), mmaction)
    (tmp_path / "labels.txt").write_text("wave\njump\nsit\n")
    model = build_model(
        "slowfast_tiny", 3, 8, 32, pretrained=path, class_names=["sit", "wave", "jump"]
    )
    report = model.load_report
    assert report is not None
    assert not report.missing and not report.unexpected and not report.new, report.summary()
    assert len(report.adapted) == (4 if mmaction else 0)  # mmaction2's laterals: bare convs
    head = "cls_head.fc_cls" if mmaction else "blocks.6.proj"
    weight, bias = state.pop(f"{head}.weight"), state.pop(f"{head}.bias")
    assert_every_tensor_landed(model, state)
    slow, fast = 256, 64  # the tiny network's pooled widths
    if mmaction:  # mmaction2's head reads [fast, slow]; ours [slow, fast]
        weight = torch.cat([weight[:, fast:], weight[:, :fast]], dim=1)
    assert weight.shape[1] == slow + fast
    rows = [2, 0, 1]  # sit, wave, jump: the rows follow the class names
    torch.testing.assert_close(model.head.layers[-1].weight, weight[rows], rtol=0, atol=0)
    torch.testing.assert_close(model.head.layers[-1].bias, bias[rows], rtol=0, atol=0)
    assert model(torch.rand(1, 3, 8, 32, 32)).isfinite().all()


def test_full_size_slowfast_r50_pytorchvideo_keys_all_map(tmp_path: Path) -> None:
    layout = slowfast_layout(**SLOWFAST_R50, pv=True)
    with torch.device("meta"):
        model = build_model("slowfast_r50", 400)
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    from motionfit.models.zoo_weights import SLOWFAST_PYTORCHVIDEO, convert_state

    empty = {k: torch.empty(shape, device="meta") for k, shape in layout.items()}
    converted = {
        k: tuple(v.shape)
        for k, v in convert_state(empty, SLOWFAST_PYTORCHVIDEO, "head.layers.1.").items()
    }
    assert converted == own


def test_wrong_files_are_one_line_errors(tmp_path: Path) -> None:
    x3d = save(random_state(x3d_pytorchvideo(**X3D_TINY, classes=3)), tmp_path / "x3d.pyth")
    with pytest.raises(ModelError, match="backbone tensors match") as error:
        build_model("slowfast_tiny", 3, pretrained=x3d)
    assert "\n" not in str(error.value)
    text = tmp_path / "notes.pyth"
    text.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="cannot read weights"):
        build_model("x3d_tiny", 3, pretrained=str(text))
    with pytest.raises(ModelError, match="unknown weights 'pytorchvideo:x3d_q'"):
        build_model("x3d_tiny", 3, pretrained="pytorchvideo:x3d_q")


def test_zoo_weights_are_read_from_the_hub_cache_never_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelError, match=r"curl .*X3D_S\.pyth.*dl\.fbaipublicfiles\.com"):
        build_model("x3d_s", 400, pretrained="pytorchvideo:x3d_s")
    cached = tmp_path / "hub" / "checkpoints" / "X3D_XS.pyth"
    cached.parent.mkdir(parents=True)
    state = random_state(x3d_pytorchvideo(**X3D_S))
    save(state, cached)
    model = build_model(
        "x3d_xs", 2, class_names=["abseiling", "zumba"], pretrained="pytorchvideo:x3d_xs"
    )
    assert model.load_report is not None and model.load_report.head_classes is not None
    assert model.load_report.head_classes.kept == ["abseiling", "zumba"]  # Kinetics-400 names
    torch.testing.assert_close(model.head.layers[-1].bias, state["blocks.5.proj.bias"][[0, 399]])


# ---------------------------------------------------------------------------------------------
# The networks


def test_published_sizes() -> None:
    params = {}
    for name in ("x3d_s", "x3d_l", "slowfast_r50", "slowfast_r50_4x16"):
        with torch.device("meta"):
            params[name] = sum(p.numel() for p in build_model(name, 400).parameters())
    # PyTorchVideo's model zoo: 3.79 M, 6.15 M, 34.57 M, 34.48 M
    assert {k: round(v / 1e6, 2) for k, v in params.items()} == {
        "x3d_s": 3.79, "x3d_l": 6.15, "slowfast_r50": 34.57, "slowfast_r50_4x16": 34.48,
    }  # fmt: skip
    assert get_spec("x3d_s").mean == (0.45, 0.45, 0.45) and get_spec("slowfast_r50").std[0] == 0.225


@pytest.mark.parametrize("name", ["x3d_tiny", "slowfast_tiny"])
def test_any_clip_length_and_layer_decay_depths(name: str) -> None:
    model = build_model(name, 3).eval()
    with torch.no_grad():
        for frames, size in ((1, 32), (5, 40), (9, 33)):
            assert model(torch.rand(1, 3, frames, size, size)).shape == (1, 3)
    depths = {model.layer_id(n) for n, _ in model.named_parameters()}
    assert depths == set(range(model.num_layers + 2))  # stem 0 ... head L+1, none skipped
    groups = param_groups(model, lr=1.0, weight_decay=0.05, layer_decay=0.5)
    scales = sorted({g["lr_scale"] for g in groups})
    assert scales[-1] == 1.0 and scales[0] == 0.5 ** (model.num_layers + 1)


# ---------------------------------------------------------------------------------------------
# Training and export on real videos


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    videos = make_videos(tmp_path_factory.mktemp("videos"), classes=3, per_class=1)
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(MODEL_SIZES, "x3d_tiny", 32)
        patch.setitem(MODEL_SIZES, "slowfast_tiny", 32)
        yield {
            name: make_run(root / name, videos, model=name, train_steps=1, seed=1)
            for name in ("x3d_tiny", "slowfast_tiny")
        }


@pytest.mark.parametrize("name", ["x3d_tiny", "slowfast_tiny"])
def test_trained_tiny_models_export_to_onnx_matching_pytorch(
    name: str, runs: dict[str, Path], tmp_path: Path
) -> None:
    run = load_run(runs[name])
    fresh = build_model(name, 3, 8, 32)
    moved = [
        k for k, v in run.model.state_dict().items() if not torch.equal(v, fresh.state_dict()[k])
    ]
    assert moved  # one training step on real clips changed the weights
    result = export_run(run, tmp_path / f"{name}.onnx", "onnx")
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    session = onnxruntime.InferenceSession(str(result.model_path))
    clip = torch.rand(2, 3, 12, 32, 32)  # another clip length: the frames axis is dynamic
    (logits,) = session.run(["logits"], {"video": clip.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, run.model(clip).numpy(), atol=1e-4, rtol=1e-4)
