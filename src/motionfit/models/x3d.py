"""X3D (Feichtenhofer, CVPR 2020) as a :class:`VideoClassifier`, written for motionfit.

A ResNet of depthwise-separable bottlenecks expanded from a tiny 2-D network along time, space,
width and depth: a (2+1)-D stem (1x3x3 convolution, then a depthwise 5x1x1 one), four stages of
bottlenecks (1x1x1 expansion by 2.25, depthwise 3x3x3 with squeeze-excitation on every other
block, Swish, 1x1x1 projection), then ``conv5`` (1x1x1 to the expanded width), global average
pooling and ``lin5`` (a 2048-wide linear layer with ReLU) before the shared head. The pooling is
adaptive, so any clip length and size run. Published layouts (PyTorchVideo ``blocks.*``,
mmaction2 ``backbone.*``) are mapped onto these names by :mod:`motionfit.models.zoo_weights`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from motionfit.models.base import VideoClassifier
from motionfit.models.head import HeadSpec, VideoHead


@dataclass(frozen=True)
class X3DSize:
    """Widths and depths of an X3D network.

    Attributes:
        stem: output width of the stem.
        widths: output width of each of the four stages.
        depths: residual blocks in each stage.
        expansion: inner width of a bottleneck = ``expansion`` x its output width.
        features: width of ``lin5`` (the pooled features the head sees).
    """

    stem: int
    widths: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    expansion: float = 2.25
    features: int = 2048


def round_repeats(repeats: int, multiplier: float) -> int:
    """Blocks in a stage after depth expansion (rounded up, as the paper does)."""
    return math.ceil(multiplier * repeats)


def se_width(width: int, ratio: float = 1 / 16, divisor: int = 8) -> int:
    """The squeeze width of a squeeze-excitation unit: ``ratio`` x ``width`` rounded to a
    multiple of ``divisor`` (at least ``divisor``, never below 90% of the exact value)."""
    exact = width * ratio
    rounded = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * exact else rounded


# X3D-XS/S/M share one network (width x2, depth x2.2: blocks 3, 5, 11, 7); L is deeper (x5)
_XS_M = X3DSize(24, (24, 48, 96, 192), tuple(round_repeats(d, 2.2) for d in (1, 2, 5, 3)))  # type: ignore[arg-type]
_L = X3DSize(24, (24, 48, 96, 192), tuple(round_repeats(d, 5.0) for d in (1, 2, 5, 3)))  # type: ignore[arg-type]
X3D_SIZES = {
    "x3d_xs": _XS_M,
    "x3d_s": _XS_M,
    "x3d_m": _XS_M,
    "x3d_l": _L,
    "x3d_tiny": X3DSize(8, (8, 16, 32, 64), (1, 1, 2, 1), features=128),
}


class SqueezeExcite(nn.Module):
    """Channel gates from the clip's mean: 1x1x1 convolution, ReLU, 1x1x1, sigmoid."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv3d(width, se_width(width), 1)
        self.fc2 = nn.Conv3d(se_width(width), width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` by its gate."""
        gate = self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3, 4), keepdim=True))))
        return x * torch.sigmoid(gate)


class Shortcut(nn.Module):
    """The projection of a residual block that changes width or stride: 1x1x1 convolution and,
    where the weights have one, batch norm (``norm`` is an Identity otherwise)."""

    def __init__(self, width_in: int, width_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(width_in, width_out, 1, stride=(1, stride, stride), bias=False)
        self.norm: nn.Module = nn.BatchNorm3d(width_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``x`` to the block's output."""
        return self.norm(self.conv(x))


class X3DBlock(nn.Module):
    """1x1x1 expansion, depthwise 3x3x3 (spatial stride), optional squeeze-excitation, Swish,
    1x1x1 projection; a residual sum and ReLU."""

    def __init__(self, width_in: int, inner: int, width_out: int, stride: int, se: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(width_in, inner, 1, bias=False)
        self.norm1 = nn.BatchNorm3d(inner)
        self.conv2 = nn.Conv3d(
            inner, inner, 3, stride=(1, stride, stride), padding=1, groups=inner, bias=False
        )
        self.norm2 = nn.BatchNorm3d(inner)
        self.se: nn.Module = SqueezeExcite(inner) if se else nn.Identity()
        self.conv3 = nn.Conv3d(inner, width_out, 1, bias=False)
        self.norm3 = nn.BatchNorm3d(width_out)
        projects = width_in != width_out or stride != 1
        self.shortcut: nn.Module = (
            Shortcut(width_in, width_out, stride) if projects else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update."""
        y = torch.relu(self.norm1(self.conv1(x)))
        y = nn.functional.silu(self.se(self.norm2(self.conv2(y))))
        return torch.relu(self.shortcut(x) + self.norm3(self.conv3(y)))


class X3DBackbone(nn.Module):
    """Stem, four stages, ``conv5``, global average pooling, ``lin5``: ``[B, 3, T, H, W]`` ->
    ``[B, size.features]``."""

    def __init__(self, size: X3DSize) -> None:
        super().__init__()
        self.conv_s = nn.Conv3d(3, size.stem, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False)
        self.conv_t = nn.Conv3d(
            size.stem, size.stem, (5, 1, 1), padding=(2, 0, 0), groups=size.stem, bias=False
        )
        self.stem_norm = nn.BatchNorm3d(size.stem)
        stages, width_in = [], size.stem
        for width, depth in zip(size.widths, size.depths, strict=True):
            inner = int(size.expansion * width)
            blocks = [
                X3DBlock(
                    width_in if i == 0 else width, inner, width, 2 if i == 0 else 1, i % 2 == 0
                )
                for i in range(depth)
            ]
            stages.append(nn.Sequential(*blocks))
            width_in = width
        self.stages = nn.Sequential(*stages)
        inner = int(size.expansion * width_in)
        self.conv5 = nn.Conv3d(width_in, inner, 1, bias=False)
        self.norm5 = nn.BatchNorm3d(inner)
        self.lin5 = nn.Linear(inner, size.features, bias=False)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Pooled features of a clip."""
        x = torch.relu(self.stem_norm(self.conv_t(self.conv_s(video))))
        x = torch.relu(self.norm5(self.conv5(self.stages(x))))
        return torch.relu(self.lin5(x.mean(dim=(2, 3, 4))))


class X3DClassifier(VideoClassifier):
    """X3D and the shared head.

    Depth map for layer-wise LR decay: the stem 0, the residual blocks 1..N in order,
    ``conv5``/``lin5`` N+1, the head N+2.
    """

    family = "x3d"

    def __init__(self, size: X3DSize, num_classes: int, head: HeadSpec) -> None:
        super().__init__()
        self.backbone = X3DBackbone(size)
        self.head = VideoHead(size.features, num_classes, head)
        self._block_depth: dict[str, int] = {}
        for stage, depth in enumerate(size.depths):
            for block in range(depth):
                self._block_depth[f"backbone.stages.{stage}.{block}."] = len(self._block_depth) + 1
        self.num_layers = len(self._block_depth) + 1

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` -> ``[B, features]``."""
        return self.backbone(video)

    def layer_id(self, param_name: str) -> int:
        """0 = stem, 1..N = residual blocks, N+1 = conv5/lin5, N+2 = head."""
        if param_name.startswith("head."):
            return self.num_layers + 1
        if param_name.startswith("backbone.stages."):
            prefix = ".".join(param_name.split(".")[:4]) + "."
            return self._block_depth[prefix]
        if param_name.startswith(("backbone.conv5", "backbone.norm5", "backbone.lin5")):
            return self.num_layers
        return 0


def build_x3d(
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
    *,
    size: str,
) -> X3DClassifier:
    """X3D of the named ``size`` (:data:`X3D_SIZES`). Any clip length and size >= 32 work
    (adaptive pooling); ``drop_path`` does not apply (X3D trains without it)."""
    del num_frames, image_size, drop_path
    return X3DClassifier(X3D_SIZES[size], num_classes, head)
