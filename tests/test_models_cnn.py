"""The motion CNN baselines: the motion stem's signals, any clip length and size, reloading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from motionfit.models.build import build_model
from motionfit.models.motioncnn import MotionStem


def moving_square(value: float, background: float, step: int, frames: int = 6) -> torch.Tensor:
    """``[1, 3, T, 32, 32]``: an 8x8 square of ``value`` moving ``step`` px per frame in x."""
    video = torch.full((1, 3, frames, 32, 32), background)
    for t in range(frames):
        x = 8 + step * t
        video[:, :, t, 12:20, x : x + 8] = value
    return video


@pytest.mark.parametrize("value,background", [(1.0, 0.0), (0.0, 1.0), (0.8, 0.3)])
def test_normal_flow_points_along_the_motion_whatever_the_contrast(value, background):
    stem = MotionStem(width=4)
    for step, sign in ((2, -1.0), (-2, 1.0)):
        inputs = stem.motion_inputs(moving_square(value, background, step))
        assert inputs.shape == (1, 5, 6, 32, 32)
        flow_x, flow_y = inputs[0, 3, :-1].sum(), inputs[0, 4, :-1].sum()
        # dI/dt * dI/dx = -(dI/dx)^2 * v_x: opposite in sign to the horizontal velocity
        assert torch.sign(flow_x) == sign and flow_x.abs() > 1.0
        assert flow_y.abs() < 1e-4 * flow_x.abs()
        assert torch.all(inputs[0, :, -1] == 0)  # the last frame has no next frame


def test_the_plain_difference_alone_depends_on_contrast():
    stem = MotionStem(width=4)
    bright = stem.motion_inputs(moving_square(1.0, 0.0, 2))[0, 0, 0]
    dark = stem.motion_inputs(moving_square(0.0, 1.0, 2))[0, 0, 0]
    assert torch.equal(bright, -dark)  # why the stem also carries the normal flow


def test_a_static_clip_gives_the_network_nothing():
    stem = MotionStem(width=4)
    still = torch.rand(1, 3, 1, 32, 32).expand(1, 3, 6, 32, 32)
    assert torch.all(stem.motion_inputs(still) == 0)  # appearance alone carries no signal
    rgb = MotionStem(width=4, appearance=True).motion_inputs(still)
    assert rgb.shape[1] == 8 and torch.equal(rgb[:, 5:], still)


@pytest.mark.parametrize("name", ["motioncnn_tiny", "motioncnn_tiny_rgb", "motioncnn_s"])
@pytest.mark.parametrize("frames,size", [(4, 32), (8, 48), (16, 64)])
def test_motion_cnns_run_forward_and_backward_at_any_clip_length_and_size(name, frames, size):
    model = build_model(name, num_classes=5, num_frames=frames, image_size=size)
    logits = model(torch.randn(2, 3, frames, size, size))
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_motion_cnn_weights_reload_to_identical_logits(tmp_path: Path):
    model = build_model("motioncnn_tiny", num_classes=4, num_frames=8, image_size=32).eval()
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    assert "stem.sobel" not in model.state_dict()  # a constant, not a weight
    again = build_model(
        "motioncnn_tiny", 4, 8, 32, pretrained=str(tmp_path / "w.safetensors")
    ).eval()
    clip = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(clip), again(clip))
