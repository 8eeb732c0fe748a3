"""SlowFast (Feichtenhofer et al., ICCV 2019) as a :class:`VideoClassifier`, written for
motionfit.

Two ResNet-3D pathways over one decoded clip ``[B, 3, T, H, W]``: the fast pathway sees all
``T`` frames with ``1/beta`` of the channels; the slow pathway sees every ``alpha``-th frame
(``video[:, :, ::alpha]``, ``ceil(T / alpha)`` frames, the frames the lateral convolutions'
temporal stride lands on). After the stem and each of the first three stages a lateral
(a ``fusion_kernel``x1x1 convolution with temporal stride ``alpha``, plus batch norm and ReLU
in the PyTorchVideo/PySlowFast layout) carries the fast features into the slow pathway by
concatenation. Both pathways are average-pooled globally and concatenated ``[slow, fast]``
for the shared head, so any clip length and size run. Published layouts (PyTorchVideo
``blocks.*``, mmaction2 ``backbone.slow_path``/``fast_path``) are mapped onto these names by
:mod:`motionfit.models.zoo_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motionfit.models.base import VideoClassifier
from motionfit.models.head import HeadSpec, VideoHead
from motionfit.models.x3d import Shortcut


@dataclass(frozen=True)
class SlowFastSize:
    """The shape of a SlowFast network.

    Attributes:
        depths: bottleneck blocks per stage (ResNet-50: 3, 4, 6, 3).
        width: slow stem width (stage ``i`` outputs ``4 * width * 2**i`` channels).
        beta_inv: the fast pathway has ``1/beta_inv`` of the slow pathway's channels.
        alpha: the slow pathway sees every ``alpha``-th frame.
        fusion_kernel: temporal kernel of the lateral convolutions.
        fusion_ratio: a lateral outputs ``fusion_ratio`` x the fast channels it reads.
    """

    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    width: int = 64
    beta_inv: int = 8
    alpha: int = 4
    fusion_kernel: int = 7
    fusion_ratio: int = 2

    @property
    def features(self) -> tuple[int, int]:
        """Widths of the pooled slow and fast features."""
        slow = 4 * self.width * 2 ** (len(self.depths) - 1)
        return slow, slow // self.beta_inv


SLOWFAST_SIZES = {
    "slowfast_r50": SlowFastSize(),  # 8x8: 32 fast frames, 8 slow
    "slowfast_r50_4x16": SlowFastSize(alpha=8, fusion_kernel=5),  # 32 fast frames, 4 slow
    "slowfast_tiny": SlowFastSize(depths=(1, 1, 1, 1), width=8, beta_inv=4, fusion_kernel=3),
}
# temporal kernels of each stage's first 1x1x1 convolution (slow: none in res2/res3)
_SLOW_KT = (1, 1, 3, 3)
_FAST_KT = (3, 3, 3, 3)


class Stem(nn.Module):
    """``kt``x7x7 convolution (spatial stride 2), batch norm, ReLU, 1x3x3 max pool (stride 2)."""

    def __init__(self, width: int, kt: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, width, (kt, 7, 7), (1, 2, 2), (kt // 2, 3, 3), bias=False)
        self.norm = nn.BatchNorm3d(width)
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stem features at a quarter of the input size."""
        return self.pool(torch.relu(self.norm(self.conv(x))))


class Bottleneck(nn.Module):
    """``kt``x1x1, 1x3x3 (spatial stride), 1x1x1 convolutions with batch norm; a residual sum
    and ReLU."""

    def __init__(self, width_in: int, inner: int, width_out: int, kt: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(width_in, inner, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.norm1 = nn.BatchNorm3d(inner)
        self.conv2 = nn.Conv3d(inner, inner, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
        self.norm2 = nn.BatchNorm3d(inner)
        self.conv3 = nn.Conv3d(inner, width_out, 1, bias=False)
        self.norm3 = nn.BatchNorm3d(width_out)
        projects = width_in != width_out or stride != 1
        self.shortcut: nn.Module = (
            Shortcut(width_in, width_out, stride) if projects else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update."""
        y = torch.relu(self.norm1(self.conv1(x)))
        y = torch.relu(self.norm2(self.conv2(y)))
        return torch.relu(self.shortcut(x) + self.norm3(self.conv3(y)))


class Lateral(nn.Module):
    """Fast -> slow: a temporally strided convolution, then batch norm and ReLU where the
    weights have them (:meth:`drop_norm` for the mmaction2 layout, which has neither)."""

    def __init__(self, width: int, size: SlowFastSize) -> None:
        super().__init__()
        kt = size.fusion_kernel
        self.conv = nn.Conv3d(
            width, width * size.fusion_ratio, (kt, 1, 1), (size.alpha, 1, 1), (kt // 2, 0, 0),
            bias=False,
        )  # fmt: skip
        self.norm: nn.Module = nn.BatchNorm3d(width * size.fusion_ratio)
        self.act: nn.Module = nn.ReLU()

    def drop_norm(self) -> None:
        """The bare convolution, as mmaction2's laterals are."""
        self.norm, self.act = nn.Identity(), nn.Identity()

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        """Fast features at the slow pathway's frame rate and width."""
        return self.act(self.norm(self.conv(fast)))


def _stage(width_in: int, width: int, depth: int, kt: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        *(
            Bottleneck(
                width_in if i == 0 else 4 * width, width, 4 * width, kt, stride if i == 0 else 1
            )
            for i in range(depth)
        )
    )


class SlowFastBackbone(nn.Module):
    """Both pathways and their laterals: ``[B, 3, T, H, W]`` -> ``[B, slow + fast]``."""

    def __init__(self, size: SlowFastSize) -> None:
        super().__init__()
        self.alpha = size.alpha
        fast_width = size.width // size.beta_inv
        self.slow_stem = Stem(size.width, 1)
        self.fast_stem = Stem(fast_width, 5)
        slow, fast, slow_in, fast_in, laterals = [], [], size.width, fast_width, []
        for i, depth in enumerate(size.depths):
            laterals.append(Lateral(fast_in, size))
            slow_in += fast_in * size.fusion_ratio
            stride = 1 if i == 0 else 2
            slow.append(_stage(slow_in, size.width * 2**i, depth, _SLOW_KT[i], stride))
            fast.append(_stage(fast_in, fast_width * 2**i, depth, _FAST_KT[i], stride))
            slow_in, fast_in = 4 * size.width * 2**i, 4 * fast_width * 2**i
        self.slow_stages, self.fast_stages = nn.ModuleList(slow), nn.ModuleList(fast)
        self.laterals = nn.ModuleList(laterals)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Pooled ``[slow, fast]`` features of one clip."""
        slow, fast = self.slow_stem(video[:, :, :: self.alpha]), self.fast_stem(video)
        for lateral, slow_stage, fast_stage in zip(
            self.laterals, self.slow_stages, self.fast_stages, strict=True
        ):
            slow = slow_stage(torch.cat([slow, lateral(fast)], dim=1))
            fast = fast_stage(fast)
        return torch.cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)


class SlowFastClassifier(VideoClassifier):
    """SlowFast and the shared head.

    Depth map for layer-wise LR decay: both stems 0; block ``j`` of each stage (slow and fast
    alike) and the lateral that feeds the stage count as one depth, 1..N in order; the head
    N+1.
    """

    family = "slowfast"

    def __init__(self, size: SlowFastSize, num_classes: int, head: HeadSpec) -> None:
        super().__init__()
        self.size = size
        self.backbone = SlowFastBackbone(size)
        self.head = VideoHead(sum(size.features), num_classes, head)
        self._first_block = [sum(size.depths[:i]) + 1 for i in range(len(size.depths))]
        self.num_layers = sum(size.depths)

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` -> ``[B, slow + fast]``."""
        return self.backbone(video)

    def layer_id(self, param_name: str) -> int:
        """0 = stems, 1..N = residual blocks (with the lateral before a stage at its first
        block), N+1 = head."""
        if param_name.startswith("head."):
            return self.num_layers + 1
        parts = param_name.split(".")
        if parts[1] in ("slow_stages", "fast_stages"):
            return self._first_block[int(parts[2])] + int(parts[3])
        if parts[1] == "laterals":
            return self._first_block[int(parts[2])]
        return 0


def build_slowfast(
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
    *,
    size: str,
) -> SlowFastClassifier:
    """SlowFast of the named ``size`` (:data:`SLOWFAST_SIZES`). Any clip length and size >= 32
    work; ``drop_path`` does not apply (SlowFast trains without it)."""
    del num_frames, image_size, drop_path
    return SlowFastClassifier(SLOWFAST_SIZES[size], num_classes, head)
