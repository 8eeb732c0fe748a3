"""Video Swin, MViT v1/v2 and R(2+1)D from torchvision behind the ``VideoClassifier`` interface.

Each backbone keeps torchvision's own modules and parameter names (so torchvision checkpoints
load as they are) with its classifier replaced by the motionfit :class:`VideoHead`. MViT is built
through torchvision's ``MViT`` class for any clip length and size (the ``mvit_*`` builders
hard-code 16x224). Tiny variants of the transformer families are registered for CPU demos.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum
from torchvision.models.swin_transformer import SwinTransformerBlock
from torchvision.models.video import MViT, SwinTransformer3d, r2plus1d_18
from torchvision.models.video.mvit import MSBlockConfig
from torchvision.models.video.swin_transformer import ShiftedWindowAttention3d

from motionfit.errors import ModelError
from motionfit.models.base import VideoClassifier
from motionfit.models.head import VideoHead
from motionfit.models.posembed import resize_flat_grid, resize_table
from motionfit.models.registry import HeadSpec, ModelSpec, register_model
from motionfit.models.weights import (
    STATE_DICT_SUFFIXES,
    LoadReport,
    StateAdapter,
    load_classifier_weights,
    read_hub_checkpoint,
    read_state_dict,
)

LOCAL_WEIGHT_SUFFIXES = STATE_DICT_SUFFIXES


class TorchvisionVideoClassifier(VideoClassifier):
    """A torchvision video backbone (classifier removed) followed by a :class:`VideoHead`.

    Args:
        backbone: module mapping ``[B, C, T, H, W]`` to pooled features ``[B, feature_dim]``.
        feature_dim: width of the pooled features.
        num_classes: classes of the new head.
        head: the head's dropout and hidden layer.
        embedding_prefixes: parameter-name prefixes of the patch/position embeddings (depth 0).
        block_prefixes: for each block in order, the prefixes of its parameters (depth 1..L).
        extra_no_decay: name prefixes of further parameters without weight decay.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        head: HeadSpec,
        embedding_prefixes: tuple[str, ...],
        block_prefixes: list[tuple[str, ...]],
        extra_no_decay: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = VideoHead(feature_dim, num_classes, head)
        self.num_layers = len(block_prefixes)
        self._embedding_prefixes = embedding_prefixes
        self._block_prefixes = block_prefixes
        self._extra_no_decay = extra_no_decay

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` -> pooled features ``[B, D]`` (the backbone's own pooling)."""
        return self.backbone(video)

    def layer_id(self, param_name: str) -> int:
        """0 for embeddings, ``i + 1`` for block ``i``, ``num_layers + 1`` for the final norm
        and the head."""
        if param_name.startswith(self._embedding_prefixes):
            return 0
        for index, prefixes in enumerate(self._block_prefixes):
            if param_name.startswith(prefixes):
                return index + 1
        return self.num_layers + 1

    def no_weight_decay(self) -> set[str]:
        """Norms, biases, relative position tables, tokens, and the family's position
        embeddings."""
        extra = {n for n, _ in self.named_parameters() if n.startswith(self._extra_no_decay)}
        return super().no_weight_decay() | extra


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
                prefixes = (f"backbone.features.{2 * stage}.{index}.",)
                if stage > 0 and index == 0:
                    prefixes += (f"backbone.features.{2 * stage - 1}.",)
                blocks.append(prefixes)
        super().__init__(
            backbone, backbone.num_features, num_classes, head, ("backbone.patch_embed.",), blocks
        )


class MViTClassifier(TorchvisionVideoClassifier):
    """Multiscale Vision Transformer v1/v2 (CLS token), built for one clip length and size.

    Depth map: patch embedding and position embeddings 0, blocks 1..L, final norm and head L+1.
    """

    family = "mvit"

    def __init__(
        self,
        backbone: MViT,
        num_classes: int,
        head: HeadSpec,
        input_shape: tuple[int, int, int],
    ) -> None:
        blocks = [(f"backbone.blocks.{i}.",) for i in range(len(backbone.blocks))]
        super().__init__(
            backbone,
            backbone.norm.normalized_shape[0],
            num_classes,
            head,
            ("backbone.conv_proj.", "backbone.pos_encoding."),
            blocks,
            extra_no_decay=("backbone.pos_encoding.",),
        )
        self.input_shape = input_shape

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """As the base class; the clip must have the frames and size the model was built for."""
        if tuple(video.shape[2:]) != self.input_shape:
            raise ModelError(
                f"MViT built for clips of {self.input_shape} (T, H, W) got {tuple(video.shape[2:])}"
                "; build it with the clip's num_frames and image_size"
            )
        return self.backbone(video)


class R2Plus1DClassifier(TorchvisionVideoClassifier):
    """R(2+1)D-18 CNN (global average pooling).

    Depth map: stem 0, the eight residual blocks 1..8, head 9.
    """

    family = "cnn"

    def __init__(self, backbone: nn.Module, num_classes: int, head: HeadSpec) -> None:
        blocks = [(f"backbone.layer{layer}.{i}.",) for layer in range(1, 5) for i in range(2)]
        super().__init__(backbone, 512, num_classes, head, ("backbone.stem.",), blocks)


# ---------------------------------------------------------------------------------------------
# Video Swin


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
    return SwinTransformerBlock(*args, attn_layer=SubWindowAttention3d, **kwargs)  # type: ignore[arg-type]


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


# ---------------------------------------------------------------------------------------------
# MViT


@dataclass(frozen=True)
class MViTArch:
    """An MViT variant in the compact form of the MViT papers (and PySlowFast configs).

    Attributes:
        depths: blocks per stage; each new stage halves the spatial tokens (query pooling) and
            doubles width and heads.
        embed_dim: width of the first stage.
        num_heads: heads of the first stage.
        v2: MViTv2 (relative position tables, residual pooling, channel change inside
            attention) instead of v1 (separable absolute position embeddings).
        kv_stride: key/value pooling stride of the first stage, halved spatially per stage.
    """

    depths: tuple[int, ...]
    embed_dim: int
    num_heads: int
    v2: bool
    kv_stride: tuple[int, int, int] = (1, 8, 8)


MVIT_V1_B = MViTArch((1, 2, 11, 2), 96, 1, v2=False)
MVIT_V2_S = MViTArch((1, 2, 11, 2), 96, 1, v2=True)
MVIT_TINY = MViTArch((1, 1, 2, 1), 24, 1, v2=True, kv_stride=(1, 4, 4))


def mvit_block_settings(arch: MViTArch) -> list[MSBlockConfig]:
    """The per-block settings torchvision's ``MViT`` takes, expanded from ``arch``."""
    stage_starts = {sum(arch.depths[:i]) for i in range(1, len(arch.depths))}
    dim, heads, kv_stride = arch.embed_dim, arch.num_heads, list(arch.kv_stride)
    settings = []
    for index in range(sum(arch.depths)):
        pool = index in stage_starts
        if pool:
            heads *= 2
            kv_stride = [kv_stride[0], max(1, kv_stride[1] // 2), max(1, kv_stride[2] // 2)]
        # v2 widens at the pooling block (inside attention), v1 in the block before it
        widen = pool if arch.v2 else (index + 1) in stage_starts
        out_dim = dim * 2 if widen else dim
        no_pool: list[int] = [1, 1, 1] if arch.v2 else []
        settings.append(
            MSBlockConfig(
                num_heads=heads,
                input_channels=dim,
                output_channels=out_dim,
                kernel_q=[3, 3, 3] if pool or arch.v2 else [],
                kernel_kv=[3, 3, 3],
                stride_q=[1, 2, 2] if pool else no_pool,
                stride_kv=list(kv_stride),
            )
        )
        dim = out_dim
    return settings


def build_mvit(
    arch: MViTArch,
    num_classes: int,
    num_frames: int,
    image_size: int,
    head: HeadSpec,
    drop_path: float,
) -> MViTClassifier:
    """An MViT classifier for clips of exactly ``num_frames`` x ``image_size``^2."""
    settings = mvit_block_settings(arch)
    backbone = MViT(
        spatial_size=(image_size, image_size),
        temporal_size=num_frames,
        block_setting=settings,
        residual_pool=arch.v2,
        residual_with_cls_embed=False,
        rel_pos_embed=arch.v2,
        proj_after_attn=arch.v2,
        stochastic_depth_prob=drop_path,
        num_classes=num_classes,
    )
    backbone.head = nn.Identity()
    return MViTClassifier(backbone, num_classes, head, (num_frames, image_size, image_size))


def adapt_mvit_positions(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> list[str]:
    """Resize MViT position tables in ``state`` to the model's clip length and size.

    v2: relative tables ``rel_pos_t`` (``2 T' - 1`` rows) and ``rel_pos_h/w`` (from the spatial
    token grid); v1: separable ``temporal_pos`` ``[T', C]`` and ``spatial_pos`` ``[H' W', C]``
    (a square grid). Returns one line per adapted tensor.
    """
    adapted = []
    for key, value in list(state.items()):
        target = own.get(key)
        if target is None or target.shape == value.shape or target.shape[1:] != value.shape[1:]:
            continue
        if key.endswith(("rel_pos_h", "rel_pos_w", "rel_pos_t", "pos_encoding.temporal_pos")):
            state[key] = resize_table(value, target.shape[0])
        elif key.endswith("pos_encoding.spatial_pos"):
            old, new = math.isqrt(value.shape[0]), math.isqrt(target.shape[0])
            if old * old != value.shape[0]:
                continue  # not a square grid: left as a mismatch in the report
            state[key] = resize_flat_grid(value, (old, old), (new, new))
        else:
            continue
        adapted.append(f"{key}: {tuple(value.shape)} -> {tuple(target.shape)}")
    return adapted


# ---------------------------------------------------------------------------------------------
# R(2+1)D


def build_r2plus1d_18(
    num_classes: int, num_frames: int, image_size: int, head: HeadSpec, drop_path: float
) -> R2Plus1DClassifier:
    """R(2+1)D-18. Any clip length and size work; ``drop_path`` does not apply to this CNN."""
    backbone = r2plus1d_18()
    backbone.fc = nn.Identity()
    return R2Plus1DClassifier(backbone, num_classes, head)


# ---------------------------------------------------------------------------------------------
# Pretrained weights


def resolve_torchvision_weights(tv_model: str, source: str) -> WeightsEnum:
    """The torchvision weights enum member named by ``source``.

    Accepts ``KINETICS400_V1``, ``torchvision:KINETICS400_V1``, ``DEFAULT`` or the qualified
    ``Swin3D_T_Weights.KINETICS400_V1``.
    """
    enum_cls = torchvision.models.get_model_weights(tv_model)
    choices = ", ".join(f"{enum_cls.__name__}.{w.name}" for w in enum_cls)
    qualifier, _, member = source.removeprefix("torchvision:").rpartition(".")
    if qualifier and qualifier != enum_cls.__name__:
        raise ModelError(f"'{source}' are weights of another model; {tv_model} takes {choices}")
    try:
        return enum_cls[member]
    except KeyError:
        raise ModelError(
            f"unknown weights '{source}' for {tv_model}: use {choices} or a local "
            f"{'/'.join(LOCAL_WEIGHT_SUFFIXES)} file"
        ) from None


def is_local_weights(source: str) -> bool:
    """True when ``source`` names a weights file rather than a weights enum."""
    return source.endswith(LOCAL_WEIGHT_SUFFIXES) or Path(source).exists()


def _torchvision_loader(
    tv_model: str | None, native_classifier: str, adapt: StateAdapter | None
) -> Callable[[VideoClassifier, str], LoadReport]:
    """A ``load_pretrained(model, source)`` for one family: a local file, or (when
    ``tv_model`` has weights in torchvision) a weights enum read from the torch hub cache.
    ``native_classifier`` is the prefix of the backbone's own classifier in torchvision keys."""

    def load_pretrained(model: VideoClassifier, source: str) -> LoadReport:
        if Path(source).is_dir():
            raise ModelError(_folder_message(source, tv_model))
        if is_local_weights(source):
            state = read_state_dict(source)
        elif tv_model is None:
            raise ModelError(
                f"no torchvision weights for this model; give a local "
                f"{'/'.join(LOCAL_WEIGHT_SUFFIXES)} file instead of '{source}'"
            )
        else:
            weights = resolve_torchvision_weights(tv_model, source)
            source = f"{type(weights).__name__}.{weights.name}"
            state = read_hub_checkpoint(weights.url, source)
        last = f"head.layers.{len(model.head.layers) - 1}."

        def native_keys(key: str) -> str:
            if key.startswith(native_classifier):
                return last + key.removeprefix(native_classifier)
            return "backbone." + key

        return load_classifier_weights(model, state, source, native_keys, adapt)

    return load_pretrained


def _folder_message(source: str, tv_model: str | None) -> str:
    """Why a folder is not weights for a torchvision-family model, and what is."""
    kind = "a HuggingFace model folder?" if (Path(source) / "config.json").is_file() else "a folder"
    names = ""
    if tv_model is not None:
        names = ", ".join(w.name for w in torchvision.models.get_model_weights(tv_model))
        names = f"torchvision weights ({names}) or "
    return (
        f"pretrained weights '{source}' is {kind}; this torchvision-family model takes "
        f"{names}a {'/'.join(LOCAL_WEIGHT_SUFFIXES)} state-dict file (e.g. a run's "
        "model.safetensors)"
    )


def _pretrained_sources(tv_model: str) -> tuple[str, ...]:
    return tuple(f"torchvision:{w.name}" for w in torchvision.models.get_model_weights(tv_model))


def _normalization(tv_model: str) -> dict[str, Any]:
    """The input mean/std the model's torchvision weights were trained with."""
    preset = torchvision.models.get_model_weights(tv_model).DEFAULT.transforms()
    return {"mean": tuple(preset.mean), "std": tuple(preset.std)}


def _register() -> None:
    swin_advice = {
        "swin3d_t": "stable, easy fine-tuning with 32-frame clips; the safe default",
        "swin3d_s": "Video Swin with more capacity than T, for more data and memory",
        "swin3d_b": "the strongest Video Swin (ImageNet-22K weights too), for large GPUs",
    }
    swin_archs = {"swin3d_t": SWIN3D_T, "swin3d_s": SWIN3D_S, "swin3d_b": SWIN3D_B}
    for name, arch in swin_archs.items():
        register_model(
            ModelSpec(
                name=name,
                family="swin",
                builder=partial(build_swin, arch),
                default_frames=32,
                default_size=224,
                frame_multiple=2,
                size_multiple=32,
                pretrained=_pretrained_sources(name),
                use_if=swin_advice[name],
                recipe="swin3d_b" if name == "swin3d_b" else "swin3d_t",
                load_pretrained=_torchvision_loader(name, "head.", None),
                **_normalization(name),
            )
        )
    register_model(
        ModelSpec(
            name="swin3d_tiny",
            family="swin",
            builder=partial(build_swin, SWIN3D_TINY),
            default_frames=8,
            default_size=64,
            frame_multiple=2,
            size_multiple=32,
            use_if="CPU demos and tests of the Video Swin code path (random init)",
            tiny=True,
            **_normalization("swin3d_t"),
            load_pretrained=_torchvision_loader(None, "head.", None),
        )
    )
    mvit_archs = {"mvit_v2_s": MVIT_V2_S, "mvit_v1_b": MVIT_V1_B}
    mvit_advice = {
        "mvit_v2_s": "compute efficiency at 16 frames",
        "mvit_v1_b": "MViT v1 baseline; prefer mvit_v2_s unless you need v1 weights",
    }
    for name, arch in mvit_archs.items():
        register_model(
            ModelSpec(
                name=name,
                family="mvit",
                builder=partial(build_mvit, arch),
                default_frames=16,
                default_size=224,
                frame_multiple=2,
                size_multiple=32,
                pretrained=_pretrained_sources(name),
                use_if=mvit_advice[name],
                recipe=name,
                load_pretrained=_torchvision_loader(name, "head.1.", adapt_mvit_positions),
                **_normalization(name),
            )
        )
    register_model(
        ModelSpec(
            name="mvit_tiny",
            family="mvit",
            builder=partial(build_mvit, MVIT_TINY),
            default_frames=8,
            default_size=64,
            frame_multiple=2,
            size_multiple=32,
            use_if="CPU demos and tests of the MViT v2 code path (random init)",
            tiny=True,
            **_normalization("mvit_v2_s"),
            load_pretrained=_torchvision_loader(None, "head.1.", adapt_mvit_positions),
        )
    )
    register_model(
        ModelSpec(
            name="r2plus1d_18",
            family="cnn",
            builder=build_r2plus1d_18,
            default_frames=16,
            default_size=112,
            size_multiple=16,
            pretrained=_pretrained_sources("r2plus1d_18"),
            use_if="a CNN baseline: cheap at 112 px, no attention",
            recipe="r2plus1d_18",
            load_pretrained=_torchvision_loader("r2plus1d_18", "fc.", None),
            **_normalization("r2plus1d_18"),
        )
    )


_register()
