"""Video Swin Transformer (torchvision's ``SwinTransformer3d``) as a :class:`VideoClassifier`.

Any clip length and size work: windows shrink to small feature maps (with the position bias
of the shrunk window, :class:`SubWindowAttention3d`) and inputs are padded to the patch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.swin_transformer import SwinTransformerBlock
from torchvision.models.video import SwinTransformer3d
from torchvision.models.video.swin_transformer import ShiftedWindowAttention3d

from motionfit.models.head import HeadSpec
from motionfit.models.tv_common import TorchvisionVideoClassifier


@dataclass(frozen=True)
class SwinArch:
    """A Video Swin variant: widths, depths and heads per stage, window and patch size."""

    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_size: tuple[int, int, int] = (8, 7, 7)
    patch_size: tuple[int, int, int] = (2, 4, 4)


SWIN3D_T = SwinArch(96, (2, 2, 6, 2), (3, 6, 12, 24))
SWIN3D_S = SwinArch(96, (2, 2, 18, 2), (3, 6, 12, 24))
SWIN3D_B = SwinArch(128, (2, 2, 18, 2), (4, 8, 16, 32))
SWIN3D_TINY = SwinArch(24, (2, 2, 2, 2), (1, 2, 4, 8), window_size=(4, 4, 4))
SWIN_ARCHS = {
    "swin3d_t": SWIN3D_T,
    "swin3d_s": SWIN3D_S,
    "swin3d_b": SWIN3D_B,
    "swin3d_tiny": SWIN3D_TINY,
}


class SwinClassifier(TorchvisionVideoClassifier):
    """Video Swin Transformer (global average pooling over space-time tokens).

    Depth map: patch embedding 0, blocks 1..L in order (a patch merging counts with the block it
    feeds), final norm and head L+1.
    """

    family = "swin"

    def __init__(
        self, backbone: SwinTransformer3d, depths: tuple[int, ...], num_classes: int, head: HeadSpec
    ) -> None:
        blocks: list[tuple[str, ...]] = []
        for stage, depth in enumerate(depths):
            for index in range(depth):
                prefixes: tuple[str, ...] = (f"backbone.features.{2 * stage}.{index}.",)
                if stage > 0 and index == 0:
                    prefixes += (f"backbone.features.{2 * stage - 1}.",)
                blocks.append(prefixes)
        super().__init__(
            backbone, backbone.num_features, num_classes, head, ("backbone.patch_embed.",), blocks
        )


class SubWindowAttention3d(ShiftedWindowAttention3d):
    """torchvision's 3-D window attention with the right position bias for shrunk windows.

    When a feature map is smaller than the window, torchvision shrinks the window but takes the
    first ``N x N`` entries of the full window's bias index, which are the right token pairs only
    if just the temporal extent shrank. At inputs below 224 px the spatial window shrinks in the
    last stages, so this picks the sub-window's own token pairs instead (hand-written: no
    library variant has the fix). Parameters and buffers are unchanged.
    """

    def get_relative_position_bias(self, window_size: list[int]) -> torch.Tensor:
        """Bias ``[1, heads, N, N]`` for the (possibly shrunk) ``window_size``."""
        if list(window_size) == list(self.window_size):
            return super().get_relative_position_bias(window_size)
        _, full_h, full_w = self.window_size
        axes = [torch.arange(n, device=self.relative_position_index.device) for n in window_size]
        keep = (axes[0][:, None, None] * full_h + axes[1][None, :, None]) * full_w
        keep = (keep + axes[2][None, None, :]).flatten()  # row-major sub-window tokens
        index = self.relative_position_index[keep][:, keep]
        bias = self.relative_position_bias_table[index.flatten()]
        return bias.view(len(keep), len(keep), -1).permute(2, 0, 1).contiguous().unsqueeze(0)


def _swin_block(*args: object, attn_layer: object = None, **kwargs: object) -> nn.Module:
    """``SwinTransformerBlock`` with :class:`SubWindowAttention3d` (``SwinTransformer3d`` passes
    its own ``attn_layer``, which is replaced here)."""
    return SwinTransformerBlock(*args, attn_layer=SubWindowAttention3d, **kwargs)


def build_swin(
    arch: SwinArch,
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
) -> SwinClassifier:
    """A Video Swin classifier. Any clip length and size work: windows shrink to small feature
    maps and inputs are padded to the patch size, so ``num_frames``/``image_size`` only
    document the intended input."""
    backbone = SwinTransformer3d(
        patch_size=list(arch.patch_size),
        embed_dim=arch.embed_dim,
        depths=list(arch.depths),
        num_heads=list(arch.num_heads),
        window_size=list(arch.window_size),
        stochastic_depth_prob=drop_path,
        block=_swin_block,
    )
    backbone.head = nn.Identity()
    return SwinClassifier(backbone, arch.depths, num_classes, head)
