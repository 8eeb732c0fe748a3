"""Small 3-D CNN baselines with a motion stem, sized for CPUs (demo, tests, quick studies).

``motioncnn_*`` feed the network each frame together with its temporal difference to the
next frame (the RGB-difference input of TSN, computed inside the model), then a residual
3-D CNN with global average pooling. On the synthetic motion set a plain RGB 3-D CNN of
the same size memorizes appearance for hundreds of steps before it finds motion; the
difference channels make motion the easiest signal, so a CPU run learns it in minutes.
Hand-written: torchvision's video ResNets have fixed widths (64..512) and no difference stem.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from motionfit.models.base import VideoClassifier
from motionfit.models.head import VideoHead
from motionfit.models.registry import HeadSpec, ModelSpec, register_model


class TemporalDifferenceStem(nn.Module):
    """``[B, 3, T, H, W]`` -> ``[B, width, T, H/2, W/2]`` from frames plus frame differences."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(6, width, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False)
        self.norm = nn.BatchNorm3d(width)
        self.act = nn.ReLU(inplace=True)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Concatenate each frame with its difference to the next (zero for the last frame)."""
        diff = torch.zeros_like(video)
        diff[:, :, :-1] = video[:, :, 1:] - video[:, :, :-1]
        return self.act(self.norm(self.conv(torch.cat([video, diff], dim=1))))


class ResidualBlock3d(nn.Module):
    """Two 3x3x3 convolutions with a shortcut; spatial stride only (time is kept)."""

    def __init__(self, in_width: int, out_width: int, stride: int, drop_path: float) -> None:
        super().__init__()
        spatial = (1, stride, stride)
        self.conv1 = nn.Conv3d(in_width, out_width, 3, stride=spatial, padding=1, bias=False)
        self.norm1 = nn.BatchNorm3d(out_width)
        self.conv2 = nn.Conv3d(out_width, out_width, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm3d(out_width)
        self.act = nn.ReLU(inplace=True)
        self.drop_path = StochasticDepth(drop_path, "row")
        self.shortcut = (
            nn.Identity()
            if in_width == out_width and stride == 1
            else nn.Sequential(
                nn.Conv3d(in_width, out_width, 1, stride=spatial, bias=False),
                nn.BatchNorm3d(out_width),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update."""
        y = self.act(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act(self.shortcut(x) + self.drop_path(y))


class MotionCNN(VideoClassifier):
    """Difference stem, four residual stages (widths w, 2w, 4w, 8w), global average pooling."""

    family = "cnn"

    def __init__(self, num_classes: int, width: int, head: HeadSpec, drop_path: float) -> None:
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        rates = torch.linspace(0, drop_path, len(widths)).tolist()
        self.stem = TemporalDifferenceStem(width)
        self.stages = nn.Sequential(
            *(
                ResidualBlock3d(widths[max(i - 1, 0)], w, 1 if i == 0 else 2, rate)
                for i, (w, rate) in enumerate(zip(widths, rates, strict=True))
            )
        )
        self.num_layers = len(widths)
        self.head = VideoHead(widths[-1], num_classes, head)

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` -> ``[B, 8w]`` (mean over time and space)."""
        return self.stages(self.stem(video)).mean(dim=(2, 3, 4))

    def layer_id(self, param_name: str) -> int:
        """0 = stem, 1..4 = stages, 5 = head."""
        if param_name.startswith("stages."):
            return int(param_name.split(".")[1]) + 1
        if param_name.startswith("head."):
            return self.num_layers + 1
        return 0


def build_motioncnn(
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
    *,
    width: int,
) -> MotionCNN:
    """A :class:`MotionCNN` (any clip length and size >= 16)."""
    del num_frames, image_size  # fully convolutional: any T and size work
    return MotionCNN(num_classes, width, head, drop_path)


_USE_IF = (
    "CPU demos, tests and quick augmentation studies; a motion-first baseline, not a "
    "replacement for pretrained transformers on real data"
)

register_model(
    ModelSpec(
        name="motioncnn_tiny",
        family="cnn",
        builder=partial(build_motioncnn, width=16),
        default_frames=8,
        default_size=32,
        use_if=_USE_IF,
        recipe="demo",
        tiny=True,
    )
)
register_model(
    ModelSpec(
        name="motioncnn_s",
        family="cnn",
        builder=partial(build_motioncnn, width=32),
        default_frames=16,
        default_size=112,
        use_if=_USE_IF,
        recipe="demo",
    )
)
