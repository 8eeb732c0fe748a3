"""Spatial transforms of a clip, the same parameters for every frame (torchvision.transforms.v2
on ``tv_tensors.Video``), the rule for the size to decode at, the batch normalization and the
flip-label helpers.

Clips stay uint8 from the decoder to the batch: a transform takes a decoded clip, uint8
``[T, C, H, W]`` at any size, and returns uint8 ``[C, T, S, S]`` clips with one resize each.
:class:`VideoNormalize` turns a batch into the model's normalized float on the training device,
where the conversion is cheap, and 4x fewer bytes cross the DataLoader and the host-device link.

Clip outputs are ``[C, T, S, S]`` views of channels-last ``[T, S, S, C]`` memory (what
torchvision's fast uint8 resize writes): no transposing copy per clip. Collate them with
:func:`motionfit.data.dataset.collate_clips` to keep that layout; :class:`VideoNormalize` returns
contiguous float.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from motionfit.config import AugmentConfig
from motionfit.data.augment import ClipSpatialAugmentation, build_stage
from motionfit.data.augment.base import class_pair_ids
from motionfit.data.guard import AugmentationWarning
from motionfit.errors import ConfigError

NATIVE_DECODE_MAX_RATIO = 1.5
"""Sources whose short side is at most this many times ``augment.short_side`` are decoded at
their own size (the crop's resize is the clip's only resize); larger ones are downscaled while
decoding (see :func:`decode_short_side`)."""

TrainClipTransform = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, bool]]
"""A training transform: uint8 ``[T, C, H, W]`` frames and the generator to draw every random
choice from -> (uint8 ``[C, T, S, S]`` clip, whether it was mirrored). :class:`TrainTransform`
is one."""

EvalClipTransform = Callable[[torch.Tensor], torch.Tensor]
"""An evaluation transform: uint8 ``[T, C, H, W]`` frames -> uint8 ``[V, C, T, S, S]``, its V
deterministic views (crops) of the clip. :class:`EvalTransform` is one."""

DIRECTION_WORDS = frozenset(
    {
        "left",
        "right",
        "leftward",
        "leftwards",
        "rightward",
        "rightwards",
        "clockwise",
        "counterclockwise",
        "anticlockwise",
    }
)


def decode_short_side(width: int, height: int, short_side: int) -> int | None:
    """The short side to decode a ``width`` x ``height`` source at, for crops made for frames of
    short side ``short_side`` (``augment.resolved_short_side()``); ``None`` = native size.

    The rule (one resize per clip): a source whose short side is at most
    ``NATIVE_DECODE_MAX_RATIO`` (1.5) times ``short_side`` (384 px for 256), smaller ones
    included, is decoded at its own size and the transform's crop-then-resize is the only
    resize (RandomResizedCrop's scale and ratio are relative to the frame, so the crops are as
    mild as at ``short_side``). Larger sources are downscaled to ``short_side`` by the decoder,
    in YUV before the RGB conversion, then cropped and resized again: measured per 16-frame
    h264 clip (``benchmarks/loader.py --decode-sizes``), native decoding costs the same or less
    up to 512x384 and 5-8% more from 640x480 to 1080p (resizing a ~900-pixel 1080p crop to 224
    costs ~6x a ~240-pixel one), and full-size 1080p frames would hold 100 MB per clip in a
    worker instead of 6 MB.
    """
    if min(width, height) <= NATIVE_DECODE_MAX_RATIO * short_side:
        return None
    return short_side


class VideoNormalize(torch.nn.Module):
    """uint8 clips ``[..., C, T, H, W]`` (channel dim -4; any layout) -> contiguous float32
    ``(x / 255 - mean) / std`` per channel, on the input's device.

    Runs on the batch in the training step (``.to(device)`` moves ``mean`` and ``std``, which
    are not saved in state dicts). A float input raises TypeError: it was converted already.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or min(std) <= 0:
            raise ValueError(f"mean and std need one value per channel, std > 0: {mean}, {std}")
        shape = (-1, 1, 1, 1)
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(shape), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(std, dtype=torch.float32).view(shape), persistent=False
        )

    @classmethod
    def from_config(cls, cfg: AugmentConfig) -> VideoNormalize:
        """The normalization of ``augment.mean`` / ``augment.std``."""
        return cls(*cfg.normalization())

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Convert and normalize ``video`` (see the class docstring)."""
        if video.dtype != torch.uint8:
            raise TypeError(
                f"VideoNormalize expects uint8 clips, got {video.dtype} (already normalized?)"
            )
        if video.ndim < 4 or video.shape[-4] != len(self.mean):
            raise ValueError(
                f"expected [..., {len(self.mean)}, T, H, W] clips, got {tuple(video.shape)}"
            )
        # Hand-written: v2.ToDtype + Normalize make three float passes on [..., C, H, W]; this
        # converts (and makes contiguous) in one pass, then scales and shifts in place.
        out = video.to(torch.float32, memory_format=torch.contiguous_format)
        return out.mul_(1.0 / (255.0 * self.std)).sub_(self.mean / self.std)


class EvalTransform:
    """Deterministic view(s) of a clip: the centre crop (``crops=1``) or left/centre/right crops
    along the long side (``crops=3``, top/centre/bottom for portrait video, as SlowFast and
    mmaction2 do) of the frame resized to short side ``cfg.resolved_short_side()``.

    Fused into crop-then-resize (one resize, of the crop only): each crop is the square region
    of the source that becomes the ``crop_size`` crop after a short-side resize, resized to
    ``crop_size``. A source already at the short side gets plain crops, pixel for pixel those of
    resize-then-crop. Otherwise two things differ: the region is whole source pixels, centred in
    the source (resize-then-crop centres in the resized frame, whose long side is truncated: up
    to ~0.6 source pixels apart at 320x240 -> 256), and the resize filter does not reach past
    the region's edge. On real frames: 0.04 grey levels mean absolute difference (of 255) when
    the two align (340x256 -> 128, crop 112; only edge pixels differ), 0.2-2.6 with the sub-pixel
    shift (320x240 and 426x240 -> 256, crop 224).
    """

    def __init__(self, cfg: AugmentConfig, crops: int = 1) -> None:
        if crops not in (1, 3):
            raise ConfigError(f"config key 'eval.crops' must be 1 or 3, got {crops}")
        self.short_side = cfg.resolved_short_side()
        self.crop_size = cfg.crop_size
        if self.short_side < self.crop_size:
            raise ConfigError(
                f"config key 'augment.short_side' ({self.short_side}) is smaller than "
                f"augment.crop_size ({self.crop_size})"
            )
        self.crops = crops

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        """uint8 ``[T, C, H, W]`` -> uint8 ``[crops, C, T, S, S]``."""
        video = _as_video(video)
        height, width = video.shape[-2:]
        views = []
        for top, left, side in self.crop_regions(height, width):
            if side == self.crop_size:
                view = F.crop(video, top, left, side, side)
            else:
                size = [self.crop_size, self.crop_size]
                view = F.resized_crop(video, top, left, side, side, size, antialias=True)
            views.append(view.transpose(0, 1))
        return stack_clips(views)

    def crop_regions(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """(top, left, side) of each crop's square region in a ``height`` x ``width`` frame."""
        short = min(height, width)
        side = max(1, min(short, round(self.crop_size * short / self.short_side)))
        centre = (round((height - side) / 2), round((width - side) / 2))
        if self.crops == 1:
            return [(*centre, side)]
        if height > width:
            return [(top, centre[1], side) for top in (0, centre[0], height - side)]
        return [(centre[0], left, side) for left in (0, centre[1], width - side)]


class TrainTransform:
    """Random spatial augmentation of a clip, one parameter draw for all its frames.

    RandomResizedCrop (its scale and ratio relative to the decoded frame) and horizontal flip
    on uint8; then the registered clip-spatial augmentations the config turns on
    (:mod:`motionfit.data.augment`: colour jitter, grayscale, the guarded rotation, perspective,
    elastic and blur...): those that run in float 0-1 together, rounded back to uint8 once, then
    the uint8 ones (random erasing). Every random draw comes from the ``generator`` passed in,
    so the output depends only on it. With ``cfg.enabled`` or ``cfg.spatial`` off this is the
    single centre crop of :class:`EvalTransform`.
    """

    def __init__(self, cfg: AugmentConfig) -> None:
        self.eval_transform = EvalTransform(cfg, crops=1)
        self.augment = cfg.enabled and cfg.spatial
        self.hflip = cfg.hflip
        self.crop = v2.RandomResizedCrop(
            cfg.crop_size, scale=cfg.scale, ratio=cfg.ratio, antialias=True
        )
        steps = [
            s for s in build_stage(cfg, "clip-spatial") if isinstance(s, ClipSpatialAugmentation)
        ]
        in_float = [step.transform() for step in steps if step.in_float]
        in_uint8 = [step.transform() for step in steps if not step.in_float]
        self.float_steps = v2.Compose(in_float) if in_float else None
        self.uint8_steps = v2.Compose(in_uint8) if in_uint8 else None

    def __call__(
        self, video: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, bool]:
        """uint8 ``[T, C, H, W]`` -> (uint8 ``[C, T, S, S]``, whether it was flipped)."""
        if not self.augment:
            return self.eval_transform(video)[0], False
        video = _as_video(video)
        seed = int(torch.randint(2**62, (1,), generator=generator))
        flipped = bool(torch.rand((), generator=generator) < self.hflip)
        # v2 transforms draw from the global RNG: run them on a forked, reseeded copy of it
        # (torch.manual_seed would also seed every accelerator backend: 0.2 ms per call)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            clip = self.crop(video)
            if flipped:
                clip = F.horizontal_flip(clip)
            if self.float_steps is not None:
                clip = _float_step(self.float_steps, clip)
            if self.uint8_steps is not None:
                clip = self.uint8_steps(clip)
        return clip.as_subclass(torch.Tensor).transpose(0, 1), flipped


def stack_clips(clips: Sequence[torch.Tensor]) -> torch.Tensor:
    """uint8 ``[C, T, H, W]`` clips -> ``[N, C, T, H, W]`` in one copy, keeping the channels-last
    memory of the transforms' outputs (``[N, T, H, W, C]`` underneath)."""
    memory = [clip.as_subclass(torch.Tensor).permute(1, 2, 3, 0) for clip in clips]
    return torch.stack(memory).permute(0, 4, 1, 2, 3)


def flip_label_map(
    class_names: Sequence[str], pairs: Mapping[str, str], unknown: str = "error"
) -> dict[int, int]:
    """Class id -> class id swapped by a horizontal flip, from name pairs (``left: right``);
    the map is symmetric. A class in two pairs raises ConfigError; so does an unknown name,
    unless ``unknown="skip"`` (a recipe's own map): then pairs naming a class the data lacks
    are dropped with one :class:`AugmentationWarning`."""
    if unknown == "skip":
        ids = {name: index for index, name in enumerate(class_names)}
        pairs = _known_pairs(pairs, ids)
    return class_pair_ids(class_names, pairs, "augment.flip_label_map")


def _known_pairs(pairs: Mapping[str, str], ids: Mapping[str, int]) -> dict[str, str]:
    """The pairs whose two classes both exist; warns once about the ones dropped."""
    kept = {a: b for a, b in pairs.items() if a in ids and b in ids}
    dropped = [f"{a}/{b}" for a, b in pairs.items() if (a, b) not in kept.items()]
    if dropped:
        warnings.warn(
            f"augment.flip_label_map: the recipe's pairs {', '.join(dropped)} name classes "
            "this data lacks; skipped (write your own pairs for your direction classes)",
            AugmentationWarning,
            stacklevel=3,
        )
    return kept


def direction_sensitive_classes(class_names: Sequence[str]) -> list[str]:
    """Class names with a left/right or clockwise word (``Swiping Left``, ``turn_right``,
    ``RotateCounterClockwise``); words inside other words (``upright``) do not count."""
    return [name for name in class_names if DIRECTION_WORDS & set(_words(name))]


def warn_unmapped_direction_classes(
    class_names: Sequence[str], pairs: Mapping[str, str], hflip: float
) -> list[str]:
    """With flipping on, warn (:class:`AugmentationWarning`) about direction-sensitive classes
    missing from ``augment.flip_label_map``; returns them."""
    if hflip <= 0:
        return []
    mapped = set(pairs) | set(pairs.values())
    missing = [name for name in direction_sensitive_classes(class_names) if name not in mapped]
    if missing:
        warnings.warn(
            f"augment.hflip={hflip:g} mirrors clips, but the direction-sensitive classes "
            f"{', '.join(repr(n) for n in missing)} are not in augment.flip_label_map: a "
            "flipped clip keeps a wrong label (add the pairs, or set augment.hflip=0)",
            AugmentationWarning,
            stacklevel=2,
        )
    return missing


def _words(name: str) -> list[str]:
    """Lower-case words of a class name, split at separators and camelCase boundaries."""
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def _float_step(step: v2.Transform, clip: tv_tensors.Video) -> tv_tensors.Video:
    """Run ``step`` on the uint8 clip in float 0-1 and round the result back to uint8.

    The frames go in as one ``Image`` batch ``[T, C, H, W]`` (one parameter draw for all of
    them, as for a Video): torchvision 0.29 has no Video kernel for ``rgb_to_grayscale``, so
    ``RandomGrayscale`` would pass a ``Video`` through unchanged.
    """
    frames = tv_tensors.Image(clip.as_subclass(torch.Tensor).to(torch.float32).div_(255))
    out = step(frames).as_subclass(torch.Tensor)
    return tv_tensors.Video(out.mul(255).round_().clamp_(0, 255).to(torch.uint8))


def _as_video(video: torch.Tensor) -> tv_tensors.Video:
    if video.dtype != torch.uint8 or video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(
            f"expected a uint8 clip [T, 3, H, W], got {video.dtype} {tuple(video.shape)}"
        )
    return tv_tensors.Video(video)
