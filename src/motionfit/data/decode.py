"""Frame-exact clip decoding: ``probe`` a video once, then ``read_clip`` only the frames a clip
needs.

Frame ``k`` of a video file is the ``k``-th frame a full sequential PyAV decode returns, whatever
the container or codec (B-frames, AVI without timestamps, non-integer frame rates, audio). A
folder of images (mmaction2 "rawframes") is read through the same two functions.

The per-file index built by ``probe`` is cached (keyed by path, inode, size and mtime, LRU
bounded), so each DataLoader worker demuxes a file once and reuses the index for every clip.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionfit.data import _pyav, _torchcodec, storage
from motionfit.data.frames import FrameFolder, read_frame_images, scan_frame_folder
from motionfit.errors import ConfigError, VideoDecodeError

DEFAULT_IMAGE_FPS = 30.0
"""Frame rate reported for a folder of images unless ``probe`` is told otherwise."""

PROBE_CACHE_SIZE = 4096
"""Files whose index each process keeps (a few kB each for a 10 s clip)."""

BACKENDS = ("pyav", "torchcodec", "auto")
"""Names ``read_clip`` accepts; ``auto`` = torchcodec when it works here, else PyAV."""


@dataclass(frozen=True)
class VideoMeta:
    """What a sampler needs to know about one video."""

    num_frames: int
    """Exactly the number of frames a full sequential PyAV decode returns."""
    fps: float
    """Average frame rate (frames per second); ``num_frames / duration`` at a variable rate."""
    duration: float
    """Seconds from the first frame to the end of the last (``num_frames / fps`` at a constant
    rate; from the timestamps at a variable one)."""
    width: int
    height: int


def probe(path: str | Path, image_fps: float = DEFAULT_IMAGE_FPS) -> VideoMeta:
    """Frame count, frame rate, duration and size of the video file or image folder ``path``.

    ``image_fps`` is the frame rate of an image folder (a video file has its own). Raises
    :class:`VideoDecodeError` naming the file if it is missing, empty, not a video, has no
    video stream or cannot be read.
    """
    source = _source(path)
    if isinstance(source, FrameFolder):
        num_frames, fps = len(source.files), image_fps
        duration = num_frames / fps
    else:
        num_frames, duration = source.num_frames, source.duration()
        fps = num_frames / duration if source.variable_rate else source.fps
    return VideoMeta(
        num_frames=num_frames,
        fps=fps,
        duration=duration,
        width=source.width,
        height=source.height,
    )


def read_clip(
    path: str | Path,
    frame_indices: Sequence[int],
    short_side: int | None = None,
    backend: str = "pyav",
) -> torch.Tensor:
    """The frames ``frame_indices`` of ``path`` as uint8 ``[T, 3, H, W]`` RGB, in the requested
    order (indices may repeat and be unsorted).

    ``short_side`` scales frames during the RGB conversion so the shorter side has that length
    (the longer one keeps the aspect ratio, truncated like ``torchvision``'s ``Resize``).
    ``backend`` is ``"pyav"``, ``"torchcodec"`` or ``"auto"`` (torchcodec reads files with
    presentation timestamps; AVI and raw streams always go through PyAV; image folders through
    Pillow). The tensor is a channels-last view of ``[T, H, W, 3]`` memory, on which
    torchvision's uint8 resize and crop run 2-3x faster; ``.contiguous()`` it if needed.
    Raises :class:`VideoDecodeError` naming the file for an unreadable file or an index out of
    range (including frames past the end of a truncated file).
    """
    source = _source(path)
    indices = _checked_indices(path, frame_indices, source)
    width, height = scaled_size(source.width, source.height, short_side)
    backend = _resolve_backend(backend)
    if isinstance(source, FrameFolder):
        return read_frame_images(source, indices, width, height)
    file = storage.local_copy(path)
    with storage.named_as(path, file):
        if backend == "torchcodec":
            return _torchcodec.read_frames(file, source, indices, width, height)
        return _pyav.read_frames(file, source, indices, width, height)


def timeline_frames(path: str | Path, positions: Sequence[int]) -> list[int]:
    """The frames of ``path`` shown at the times of ``positions`` on its constant-rate timeline
    (position ``p`` is ``p / fps`` seconds after the first frame, ``fps`` as :func:`probe`
    reports it). Samplers count positions; this makes their clips, strides and segments follow
    time on a variable-frame-rate video. At a constant rate positions are frame numbers and
    are returned unchanged."""
    source = _source(path)
    if isinstance(source, FrameFolder) or not source.variable_rate:
        return list(positions)
    interval = source.duration() / source.num_frames
    seconds = np.asarray(positions, dtype=np.float64) * interval
    return source.frames_at(seconds).tolist()


def available_backends() -> list[str]:
    """Decoding backends that work in this environment: ``"pyav"`` always, ``"torchcodec"`` if
    it imports and decodes a test clip correctly."""
    return ["pyav", "torchcodec"] if _torchcodec.works() else ["pyav"]


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """``(width, height)`` scaled so the shorter side is ``short_side`` (``None``: unchanged);
    the longer side is truncated as ``torchvision.transforms.v2.Resize(short_side)`` does."""
    if short_side is None:
        return width, height
    if short_side < 1:
        raise ValueError(f"short_side must be >= 1, got {short_side}")
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def remember_index(path: str | Path, index: _pyav.PacketIndex, size: int, mtime_ns: int) -> None:
    """Use ``index`` for the video file ``path`` instead of demuxing it, as long as the file
    keeps this ``size`` and modification time ``mtime_ns`` (an edited or replaced file is
    indexed again). Fed from the manifest that ``motionfit data prepare`` writes
    (:func:`motionfit.data.prepare.use_manifests`); affects this process and processes forked
    from it (DataLoader workers on Linux)."""
    _KNOWN_INDEXES[str(path)] = (size, mtime_ns, index)


_KNOWN_INDEXES: dict[str, tuple[int, int, _pyav.PacketIndex]] = {}


def _source(path: str | Path) -> _pyav.PacketIndex | FrameFolder:
    """The cached index of ``path`` after checking it exists and is not empty (one ``stat``; no
    path resolution, which cost ~10x more per call). A URL is indexed from its local copy."""
    if storage.is_url(path):
        return _remote_source(str(path))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise VideoDecodeError(f"{path}: no such file or folder") from None
    except OSError as error:
        raise VideoDecodeError(f"{path}: cannot read ({error.strerror})") from error
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise VideoDecodeError(f"{path}: empty file (0 bytes)")
    known = _KNOWN_INDEXES.get(str(path))
    if known is not None and known[:2] == (info.st_size, info.st_mtime_ns):
        return known[2]
    version = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    return _cached_source(Path(path), stat.S_ISDIR(info.st_mode), version)


def _remote_source(url: str) -> _pyav.PacketIndex | FrameFolder:
    """The index of the object ``url``: a prepared manifest's (same size) or its local copy's."""
    file = storage.local_copy(url)
    try:
        size = file.stat().st_size
    except FileNotFoundError:  # another process evicted the copy: fetch it again
        storage.forget_local_copy(url)
        file = storage.local_copy(url)
        size = file.stat().st_size
    known = _KNOWN_INDEXES.get(url)
    if known is not None and known[0] == size:
        return known[2]
    with storage.named_as(url, file):
        return _source(file)


@functools.lru_cache(maxsize=PROBE_CACHE_SIZE)
def _cached_source(
    path: Path, is_dir: bool, version: tuple[int, int, int, int]
) -> _pyav.PacketIndex | FrameFolder:
    """The index of one version of a file: ``version`` (device, inode, size, modification
    time) is part of the key, so an edited or replaced file is indexed again."""
    if is_dir:
        return scan_frame_folder(path)
    return _pyav.index_video(path)


def _checked_indices(
    path: str | Path, frame_indices: Sequence[int], source: _pyav.PacketIndex | FrameFolder
) -> np.ndarray:
    indices = np.asarray(frame_indices, dtype=np.int64)
    if indices.ndim != 1 or indices.size == 0:
        raise ValueError(f"frame_indices must be a non-empty 1-D sequence, got {frame_indices!r}")
    if isinstance(source, FrameFolder):
        num_frames, truncated = len(source.files), False
    else:
        num_frames, truncated = source.num_frames, source.truncated
    bad = indices[(indices < 0) | (indices >= num_frames)]
    if bad.size:
        limit = (
            f"only the first {num_frames} frames are readable: the file is truncated or corrupt"
            if truncated
            else f"the video has {num_frames} frames"
        )
        raise VideoDecodeError(f"{path}: frame {int(bad[0])} out of range ({limit})")
    return indices


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"unknown decoder backend {backend!r}; choose one of {BACKENDS}")
    if backend == "pyav":
        return "pyav"
    if _torchcodec.works():
        return "torchcodec"
    if backend == "auto":
        return "pyav"
    raise ConfigError(f"decoder 'torchcodec' does not work here ({_torchcodec.problem()})")
