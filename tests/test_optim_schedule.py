"""Parameter groups (weight decay, layer decay) and the per-step LR schedules."""

from __future__ import annotations

import math

import pytest
import torch

from motionfit.config import OptimConfig, ScheduleConfig
from motionfit.models.build import build_model
from motionfit.train.optim import build_optimizer, param_groups, scaled_lr
from motionfit.train.schedule import build_scheduler, lr_factor


@pytest.fixture(scope="module")
def vit():
    return build_model("videomae_tiny", num_classes=5, num_frames=8, image_size=64)


@pytest.fixture(scope="module")
def cnn():
    return build_model("motioncnn_tiny", num_classes=5, num_frames=8, image_size=32)


def _by_name(groups):
    return {name: group for group in groups for name in group["names"]}


@pytest.mark.parametrize("model_name", ["vit", "cnn"])
def test_no_weight_decay_on_norms_biases_embeddings_and_tokens(model_name, request):
    model = request.getfixturevalue(model_name)
    groups = _by_name(param_groups(model, lr=1e-3, weight_decay=0.05))
    params = dict(model.named_parameters())
    assert set(groups) == set(params)
    for name, param in params.items():
        decays = groups[name]["weight_decay"] > 0
        no_decay_kind = (
            param.ndim <= 1
            or name.endswith(".bias")
            or any(k in name for k in ("pos_embed", "position", "cls_token", "time_embed"))
        )
        assert decays != no_decay_kind, name
        if "norm" in name.lower() or name.endswith(".bias"):
            assert not decays, name
    conv_weights = [n for n, p in params.items() if p.ndim >= 2 and "embed" not in n]
    assert conv_weights and all(groups[n]["weight_decay"] == 0.05 for n in conv_weights)


def test_layer_decay_scales_lr_by_depth(vit):
    decay = 0.75
    groups = _by_name(param_groups(vit, lr=1e-3, weight_decay=0.05, layer_decay=decay))
    top = vit.num_layers + 1
    for name, group in groups.items():
        depth = vit.layer_id(name)
        assert math.isclose(group["lr"], 1e-3 * decay ** (top - depth)), name
    assert math.isclose(groups["head.layers.1.weight"]["lr"], 1e-3)
    embed = next(n for n in groups if vit.layer_id(n) == 0)
    assert math.isclose(groups[embed]["lr"], 1e-3 * decay**top)
    depths = {vit.layer_id(n) for n in groups}
    assert depths == set(range(top + 1))


def test_optimizers_and_lr_scaling(cnn):
    adamw = build_optimizer(cnn, OptimConfig(), lr=1e-3)
    assert isinstance(adamw, torch.optim.AdamW)
    sgd = build_optimizer(cnn, OptimConfig(name="sgd", momentum=0.8), lr=0.1)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.8
    assert scaled_lr(OptimConfig(lr=1e-3), 512) == 1e-3
    assert math.isclose(scaled_lr(OptimConfig(lr=1e-3, base_batch_size=256), 512), 2e-3)


def test_warmup_then_cosine_values():
    cfg = ScheduleConfig(name="cosine", warmup_epochs=2, warmup_start_factor=0.1, min_lr_ratio=0.0)
    steps_per_epoch, total = 10, 100
    assert math.isclose(lr_factor(0, cfg, steps_per_epoch, total), 0.1)
    assert math.isclose(lr_factor(10, cfg, steps_per_epoch, total), 0.1 + 0.9 * 10 / 20)
    assert math.isclose(lr_factor(20, cfg, steps_per_epoch, total), 1.0)
    assert math.isclose(lr_factor(60, cfg, steps_per_epoch, total), 0.5)  # half-way through decay
    assert math.isclose(lr_factor(100, cfg, steps_per_epoch, total), 0.0, abs_tol=1e-12)
    floor = ScheduleConfig(warmup_epochs=0, min_lr_ratio=0.05)
    assert math.isclose(lr_factor(100, floor, 10, 100), 0.05)


def test_step_and_constant_schedules():
    step = ScheduleConfig(name="step", warmup_epochs=1, milestones=[3, 6], gamma=0.1)
    values = [lr_factor(s, step, 10, 100) for s in (5, 10, 29, 30, 59, 60, 99)]
    expected = [0.01 + 0.99 * 0.5, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    assert all(math.isclose(v, e) for v, e in zip(values, expected, strict=True))
    constant = ScheduleConfig(name="constant", warmup_epochs=0)
    assert lr_factor(57, constant, 10, 100) == 1.0


def test_scheduler_keeps_each_groups_layer_scale(vit):
    optimizer = build_optimizer(vit, OptimConfig(layer_decay=0.5), lr=1.0)
    scheduler = build_scheduler(optimizer, ScheduleConfig(warmup_epochs=1), 4, 40)
    initial = [g["lr"] for g in optimizer.param_groups]
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    after_warmup = [g["lr"] for g in optimizer.param_groups]
    assert all(math.isclose(a, i / 0.01) for a, i in zip(after_warmup, initial, strict=True))
    assert len({round(g["lr"], 12) for g in optimizer.param_groups}) > 1
