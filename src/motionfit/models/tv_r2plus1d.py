"""R(2+1)D-18 (torchvision's ``r2plus1d_18``) as a :class:`VideoClassifier`."""

from __future__ import annotations

from torch import nn
from torchvision.models.video import r2plus1d_18

from motionfit.models.head import HeadSpec
from motionfit.models.tv_common import TorchvisionVideoClassifier


class R2Plus1DClassifier(TorchvisionVideoClassifier):
    """R(2+1)D-18 CNN (global average pooling).

    Depth map: stem 0, the eight residual blocks 1..8, head 9.
    """

    family = "cnn"

    def __init__(self, backbone: nn.Module, num_classes: int, head: HeadSpec) -> None:
        blocks: list[tuple[str, ...]] = [
            (f"backbone.layer{layer}.{i}.",) for layer in range(1, 5) for i in range(2)
        ]
        super().__init__(backbone, 512, num_classes, head, ("backbone.stem.",), blocks)


def build_r2plus1d_18(
    num_classes: int, num_frames: int, image_size: int, head: HeadSpec, drop_path: float
) -> R2Plus1DClassifier:
    """R(2+1)D-18. Any clip length and size work; ``drop_path`` does not apply to this CNN."""
    backbone = r2plus1d_18()
    backbone.fc = nn.Identity()
    return R2Plus1DClassifier(backbone, num_classes, head)
