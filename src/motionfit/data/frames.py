"""Videos stored as a folder of images (mmaction2 "rawframes": ``img_00001.jpg`` ...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from motionfit.errors import VideoDecodeError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


@dataclass(frozen=True)
class FrameFolder:
    """The frame images of one folder in frame order, and their common size."""

    files: tuple[Path, ...]
    width: int
    height: int


def is_frame_folder(path: Path) -> bool:
    """True when ``path`` is a folder holding frame images itself (one video as images)."""
    return path.is_dir() and any(
        p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in path.iterdir()
    )


def scan_frame_folder(path: Path) -> FrameFolder:
    """List the ``.jpg``/``.jpeg``/``.png`` images of ``path`` in natural order (``img_2`` before
    ``img_10``) and read the frame size from the first one."""
    files = tuple(
        sorted(
            (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
    )
    if not files:
        raise VideoDecodeError(f"{path}: folder has no .jpg or .png frames")
    with _open_image(files[0]) as image:
        width, height = image.size
    return FrameFolder(files=files, width=width, height=height)


def read_frame_images(
    folder: FrameFolder, indices: np.ndarray, width: int, height: int
) -> torch.Tensor:
    """Read frames ``indices`` (in range, any order, repeats allowed) as uint8
    ``[T, 3, height, width]`` RGB; each distinct image is decoded and resized once.

    The result is a channels-last view, like the video backends return.
    """
    out = np.empty((len(indices), height, width, 3), dtype=np.uint8)
    for number in np.unique(indices):
        rows = np.flatnonzero(indices == number)
        out[rows] = _rgb_image(folder, folder.files[number], width, height)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def _rgb_image(folder: FrameFolder, path: Path, width: int, height: int) -> np.ndarray:
    """One frame as ``[height, width, 3]`` RGB. A JPEG read smaller than stored is decoded at a
    reduced scale first (libjpeg's DCT scaling, ``Image.draft``: 1/2 to 1/8, never below the
    requested size), much cheaper than decoding the full image and resizing it."""
    with _open_image(path) as image:
        if image.size != (folder.width, folder.height):
            raise VideoDecodeError(
                f"{path}: size {image.size[0]}x{image.size[1]} differs from the first frame "
                f"({folder.width}x{folder.height})"
            )
        if (width, height) != image.size:
            image.draft("RGB", (width, height))
        try:
            rgb = image.convert("RGB")
        except OSError as error:
            raise VideoDecodeError(f"{path}: unreadable image ({error})") from error
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def _open_image(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as error:
        raise VideoDecodeError(f"{path}: unreadable image ({error})") from error


def _natural_key(path: Path) -> list[int | str]:
    # Hand-written: the standard library has no natural sort (digit runs compared as numbers).
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]
