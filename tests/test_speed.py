"""Speed and memory switches (train.compile, train.channels_last, train.grad_checkpointing):
the same loss and gradients to float tolerance with and without, on tiny real models."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from motionfit.config import TrainConfig
from motionfit.errors import ConfigError
from motionfit.models.build import build_model
from motionfit.models.head import HeadSpec
from motionfit.models.registry import get_spec
from motionfit.train.speed import apply_speed_switches

SIZES = {"motioncnn_tiny": 32, "videomae_tiny": 64, "timesformer_tiny": 64}


def _loss_and_grads(model: torch.nn.Module, video: torch.Tensor) -> tuple[float, list]:
    model.zero_grad()
    loss = F.cross_entropy(model(video), torch.tensor([0, 1]))
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _compare(name: str, **switches: object) -> torch.nn.Module:
    torch.manual_seed(0)
    size = SIZES[name]
    plain = build_model(name, 3, 8, size, head=HeadSpec(dropout=0.0), drop_path=0.0).train()
    switched = copy.deepcopy(plain)
    apply_speed_switches(switched, get_spec(name), TrainConfig(**switches))
    video = torch.randn(2, 3, 8, size, size, generator=torch.Generator().manual_seed(1))
    loss, grads = _loss_and_grads(plain, video)
    loss_on, grads_on = _loss_and_grads(switched, video)
    assert loss_on == pytest.approx(loss, rel=1e-5, abs=1e-6)
    assert len(grads_on) == len(grads)
    for a, b in zip(grads, grads_on, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert list(switched.state_dict()) == list(plain.state_dict())  # checkpoints unchanged
    return switched


def test_channels_last_gives_the_same_loss() -> None:
    _compare("motioncnn_tiny", channels_last=True)


@pytest.mark.parametrize("name", ["videomae_tiny", "timesformer_tiny"])
def test_gradient_checkpointing_gives_the_same_loss(name: str) -> None:
    encoder = _compare(name, grad_checkpointing=True).get_submodule(name.split("_")[0] + ".encoder")
    assert encoder.gradient_checkpointing


def test_compile_gives_the_same_loss() -> None:
    # aot_eager runs the same capture (dynamo + AOTAutograd) as inductor without its codegen,
    # which takes minutes on a CPU
    _compare("motioncnn_tiny", compile=True, compile_backend="aot_eager")


def test_switches_a_family_cannot_use_are_config_errors() -> None:
    model = build_model("motioncnn_tiny", 3, 8, 32)
    with pytest.raises(ConfigError, match=r"train\.grad_checkpointing': for the videomae"):
        apply_speed_switches(
            model, get_spec("motioncnn_tiny"), TrainConfig(grad_checkpointing=True)
        )
    with pytest.raises(ConfigError, match=r"train\.channels_last': for the cnn, slowfast families"):
        apply_speed_switches(model, get_spec("videomae_tiny"), TrainConfig(channels_last=True))
