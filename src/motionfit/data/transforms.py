"""Spatial transforms of a clip, the same parameters for every frame (torchvision.transforms.v2
on ``tv_tensors.Video``), and the flip-label helpers.

Input is a decoded clip, uint8 ``[T, C, H, W]``; output is the model's float ``[C, T, S, S]``,
normalized. Crops and resizes run on uint8; the float conversion comes last.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from motionfit.config import AugmentConfig
from motionfit.data.guard import AugmentationWarning
from motionfit.errors import ConfigError

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


class EvalTransform:
    """Deterministic view(s) of a clip: resize the short side to ``cfg.resolved_short_side()``,
    then a centre crop (``crops=1``) or left/centre/right crops along the long side (``crops=3``,
    top/centre/bottom for portrait video) as SlowFast and mmaction2 do."""

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
        self._to_model = ModelInput(cfg.mean, cfg.std)

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        """uint8 ``[T, C, H, W]`` -> float ``[crops, C, T, S, S]``."""
        video = _as_video(video)
        if min(video.shape[-2:]) != self.short_side:
            video = F.resize(video, [self.short_side], antialias=True)
        height, width = video.shape[-2:]
        return torch.stack(
            [
                self._to_model(F.crop(video, top, left, self.crop_size, self.crop_size))
                for top, left in self.crop_origins(height, width)
            ]
        )

    def crop_origins(self, height: int, width: int) -> list[tuple[int, int]]:
        """(top, left) of each crop in a ``height`` x ``width`` frame."""
        size = self.crop_size
        centre = (round((height - size) / 2), round((width - size) / 2))
        if self.crops == 1:
            return [centre]
        if height > width:
            return [(top, centre[1]) for top in (0, centre[0], height - size)]
        return [(centre[0], left) for left in (0, centre[1], width - size)]


class TrainTransform:
    """Random spatial augmentation of a clip, one parameter draw for all its frames.

    RandomResizedCrop and horizontal flip on uint8; then, when configured, colour jitter,
    grayscale and the guarded rotation, perspective, elastic and blur on float 0-1; random
    erasing on the normalized clip. Every random draw comes from the ``generator`` passed in,
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
        self.appearance = _appearance_transforms(cfg)
        self.erasing = (
            v2.RandomErasing(p=cfg.random_erasing, value=0.0, inplace=True)
            if cfg.random_erasing > 0
            else None
        )
        self._to_model = ModelInput(cfg.mean, cfg.std)

    def __call__(
        self, video: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, bool]:
        """uint8 ``[T, C, H, W]`` -> (float ``[C, T, S, S]`` normalized, whether it was
        flipped)."""
        if not self.augment:
            return self.eval_transform(video)[0], False
        video = _as_video(video)
        seed = int(torch.randint(2**62, (1,), generator=generator))
        flipped = bool(torch.rand((), generator=generator) < self.hflip)
        # v2 transforms draw from the global RNG: run them on a forked, reseeded copy of it
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            clip = self.crop(video)
            if flipped:
                clip = F.horizontal_flip(clip)
            if self.appearance is not None:
                clip = self.appearance(F.to_dtype(clip, torch.float32, scale=True))
            out = self._to_model(clip)
            if self.erasing is not None:
                # a [T, C, H, W] view of the output: one box, erased in place in every frame
                self.erasing(tv_tensors.Video(out.transpose(0, 1)))
        return out, flipped


class ModelInput:
    """A clip ``[T, C, H, W]`` (uint8, or float in 0-1) -> float ``[C, T, H, W]`` normalized by
    ``mean`` / ``std`` (in 0-1 units).

    Hand-written: v2.ToDtype + Normalize make three float passes and keep ``[T, C, H, W]``;
    this converts and transposes in one copy and normalizes in place.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1, 1)
        self.inv_std = 1.0 / torch.tensor(std, dtype=torch.float32).view(-1, 1, 1, 1)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        """Convert and normalize one clip."""
        if clip.dtype == torch.uint8:
            offset, scale = self.mean * 255.0, self.inv_std / 255.0
        else:
            offset, scale = self.mean, self.inv_std
        out = clip.as_subclass(torch.Tensor).transpose(0, 1)
        out = out.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        return out.sub_(offset).mul_(scale)


def flip_label_map(class_names: Sequence[str], pairs: Mapping[str, str]) -> dict[int, int]:
    """Class id -> class id swapped by a horizontal flip, from name pairs (``left: right``);
    the map is symmetric. Unknown names or a class in two pairs raise ConfigError."""
    ids = {name: index for index, name in enumerate(class_names)}
    mapping: dict[int, int] = {}
    for first, second in pairs.items():
        for name in (first, second):
            if name not in ids:
                raise ConfigError(
                    f"config key 'augment.flip_label_map': unknown class '{name}' "
                    f"(classes: {', '.join(class_names)})"
                )
        a, b = ids[first], ids[second]
        for source, target in ((a, b), (b, a)):
            if mapping.get(source, target) != target:
                raise ConfigError(
                    f"config key 'augment.flip_label_map': class '{class_names[source]}' is "
                    "paired with two different classes"
                )
            mapping[source] = target
    return mapping


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


def _as_video(video: torch.Tensor) -> tv_tensors.Video:
    if video.dtype != torch.uint8 or video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(
            f"expected a uint8 clip [T, 3, H, W], got {video.dtype} {tuple(video.shape)}"
        )
    return tv_tensors.Video(video)


def _appearance_transforms(cfg: AugmentConfig) -> v2.Compose | None:
    """The optional transforms after crop and flip (run on float 0-1, where torchvision's colour
    ops are ~10x faster than on uint8), in order, or None when none is on."""
    steps: list[v2.Transform] = []
    if cfg.color_jitter > 0:
        try:
            jitter = v2.ColorJitter(*cfg.color_jitter_strength)
        except ValueError as exc:
            raise ConfigError(f"config key 'augment.color_jitter_strength': {exc}") from exc
        steps.append(v2.RandomApply([jitter], cfg.color_jitter))
    if cfg.grayscale > 0:
        steps.append(v2.RandomGrayscale(cfg.grayscale))
    if cfg.rotation > 0:
        steps.append(v2.RandomRotation(cfg.rotation, interpolation=v2.InterpolationMode.BILINEAR))
    if cfg.perspective > 0:
        steps.append(v2.RandomPerspective(cfg.perspective))
    if cfg.elastic > 0:
        steps.append(v2.ElasticTransform(alpha=cfg.elastic))
    if cfg.blur_sigma > 0:
        kernel = 2 * int(3 * cfg.blur_sigma + 0.5) + 1
        steps.append(v2.GaussianBlur(kernel, sigma=(min(0.1, cfg.blur_sigma), cfg.blur_sigma)))
    return v2.Compose(steps) if steps else None
