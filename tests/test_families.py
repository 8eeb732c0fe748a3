"""Every model family as the registry declares it: one training step with its default LoRA
targets, gradient checkpointing where it says so (and a clear refusal where not), a saved copy
that loads back whole, and the declared facts checked against the networks and torchvision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from motionfit.config import LoraSettings, TrainConfig
from motionfit.errors import ConfigError
from motionfit.models import build_model, get_family, list_families, list_specs
from motionfit.models.family import PRIORITIES
from motionfit.models.lora import add_lora
from motionfit.models.weights import class_metadata
from motionfit.train.speed import apply_speed_switches

# the smallest model of each family, at a small clip its architecture takes
SMALLEST = {
    family.name: min(
        (s for s in list_specs() if s.family == family.name),
        key=lambda s: (not s.tiny, s.default_size),
    )
    for family in list_families()
}
CLASSES = ("wave", "jump", "sit")


def _clip(spec, batch: int = 2) -> torch.Tensor:
    frames = max(spec.frame_multiple, 4)
    size = spec.default_size if spec.tiny else 32
    return torch.rand(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(0))


def _model(spec):
    clip = _clip(spec)
    torch.manual_seed(0)
    return build_model(spec.name, len(CLASSES), clip.shape[2], clip.shape[-1]), clip


def test_the_registry_imports_no_torch() -> None:
    code = "import sys, motionfit.models; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_priority_orders_the_fine_tuned_families_without_ties() -> None:
    tuned = [f for f in list_families() if not f.capabilities.frozen_features]
    for priority in PRIORITIES:
        ranks = sorted(f.advice.rank[priority] for f in tuned)
        assert ranks == list(range(len(tuned))), priority
    assert all(spec.family in SMALLEST for spec in list_specs())


@pytest.mark.parametrize("family", sorted(SMALLEST))
def test_one_training_step_with_the_default_lora_targets(family: str) -> None:
    spec = SMALLEST[family]
    model, clip = _model(spec)
    add_lora(model, LoraSettings(rank=2), spec.capabilities.lora_targets)
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable), family
    frozen = [
        n for n in trainable if "lora_" not in n and model.layer_id(n) != model.num_layers + 1
    ]
    assert not frozen, frozen[:3]  # only adapters and the top of the model train
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    loss = torch.nn.functional.cross_entropy(model(clip), torch.tensor([0, 1]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    changed = [
        n for n, p in model.named_parameters() if "lora_B" in n and not p.equal(trainable[n])
    ]
    assert changed, f"{family}: no LoRA adapter moved"


@pytest.mark.parametrize("family", sorted(SMALLEST))
def test_gradient_checkpointing_where_declared_and_refused_elsewhere(family: str) -> None:
    spec = SMALLEST[family]
    model, clip = _model(spec)
    model.train()
    switch = TrainConfig(grad_checkpointing=True)
    if not spec.capabilities.grad_checkpointing:
        with pytest.raises(ConfigError, match=f"train.grad_checkpointing'.*not {family}"):
            apply_speed_switches(model, spec, switch)
        return
    torch.manual_seed(0)  # the same dropout draws in both passes
    expected = model(clip).sum()
    apply_speed_switches(model, spec, switch)
    torch.manual_seed(0)
    again = model(clip).sum()
    again.backward()
    torch.testing.assert_close(again, expected)


@pytest.mark.parametrize("family", sorted(SMALLEST))
def test_a_saved_copy_loads_back_whole(family: str, tmp_path: Path) -> None:
    spec = SMALLEST[family]
    model, clip = _model(spec)
    path = tmp_path / "model.safetensors"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=class_metadata(CLASSES))
    reordered = CLASSES[::-1]
    torch.manual_seed(1)
    loaded = build_model(
        spec.name, 3, clip.shape[2], clip.shape[-1], pretrained=str(path), class_names=reordered
    )
    report = loaded.load_report
    assert not report.missing and not report.unexpected and not report.new, report
    model.eval(), loaded.eval()
    with torch.no_grad():  # rows follow class names: the same logits, reversed
        torch.testing.assert_close(loaded(clip), model(clip).flip(-1))


def test_declared_multiples_match_the_networks() -> None:
    from motionfit.models import hf_common, hf_videoprism

    for name in ("videomae", "vjepa2"):
        spec = SMALLEST[name]
        assert (spec.frame_multiple, spec.size_multiple) == (
            hf_common.TUBELET_SIZE,
            hf_common.PATCH_SIZE,
        )
    assert SMALLEST["timesformer"].size_multiple == hf_common.PATCH_SIZE
    assert SMALLEST["videoprism"].size_multiple == hf_videoprism.PATCH_SIZE


def test_torchvision_weights_facts_match_torchvision() -> None:
    checked = 0
    for spec in list_specs():
        sources = [s for s in spec.pretrained if s.startswith("torchvision:")]
        if not sources:
            continue
        enums = torchvision.models.get_model_weights(spec.name)
        assert sources == [f"torchvision:{w.name}" for w in enums], spec.name
        preset = enums.DEFAULT.transforms()
        assert (tuple(preset.mean), tuple(preset.std)) == (spec.mean, spec.std), spec.name
        assert [w.size for w in spec.weights] == [preset.crop_size[0]] * len(enums), spec.name
        for weights in spec.weights:
            enum = enums[weights.source.removeprefix("torchvision:")]
            assert weights.num_classes == len(enum.meta["categories"]), spec.name
        checked += 1
    assert checked == 6  # swin3d_t/s/b, mvit_v2_s, mvit_v1_b, r2plus1d_18
    assert get_family("cnn").capabilities.channels_last
