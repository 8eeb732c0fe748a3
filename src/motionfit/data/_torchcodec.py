"""Optional torchcodec backend, used only where it is installed, works, and numbers frames as
PyAV does.

torchcodec needs system FFmpeg libraries; whether it works is checked once per process by
decoding a tiny generated clip. It misnumbers frames in AVI files (no presentation timestamps),
so files indexed by frame counting are always decoded with PyAV.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import av
import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from motionfit.data import _pyav
from motionfit.data.encode import write_video
from motionfit.errors import VideoDecodeError


def works() -> bool:
    """Whether torchcodec imports and decodes a test clip exactly like PyAV."""
    return _problem() is None


def problem() -> str:
    """Why torchcodec cannot be used here (empty if it can)."""
    return _problem() or ""


def read_frames(
    path: Path, index: _pyav.PacketIndex, indices: np.ndarray, width: int, height: int
) -> torch.Tensor:
    """Decode frames ``indices`` like :func:`motionfit.data._pyav.read_frames`, with torchcodec
    where its frame numbering matches (files with presentation timestamps), else with PyAV."""
    if index.frame_pts is None:
        return _pyav.read_frames(path, index, indices, width, height)
    from torchcodec.decoders import VideoDecoder

    wanted, rows = np.unique(indices, return_inverse=True)
    try:
        decoder = VideoDecoder(
            str(path),
            stream_index=index.stream_index,
            dimension_order="NHWC",
            num_ffmpeg_threads=1,
            custom_frame_mappings=_frame_mappings(index),
        )
        frames = decoder.get_frames_at(wanted.tolist()).data.permute(0, 3, 1, 2)
    except RuntimeError as error:
        raise VideoDecodeError(f"{path}: torchcodec could not decode it ({error})") from error
    if (width, height) != (index.width, index.height):
        # torchvision's channels-last uint8 resize: faster than torchcodec's decoder Resize here
        frames = F.resize(frames, [height, width], antialias=True)
    if len(wanted) != len(indices) or not np.array_equal(wanted, indices):
        frames = frames[torch.from_numpy(rows)]
    return frames


@functools.lru_cache(maxsize=16)
def _frame_mappings(index: _pyav.PacketIndex) -> str:
    """Our frame table in torchcodec's ``custom_frame_mappings`` JSON, so it numbers frames as
    PyAV does and skips its own scan of the file."""
    pts = index.frame_pts
    assert pts is not None  # read_frames sends only files with presentation timestamps
    last_duration = int(pts[-1] - pts[-2]) if len(pts) > 1 else 1
    durations = np.diff(pts, append=pts[-1] + last_duration)
    is_key = np.isin(pts, index.key_pts)
    frames = [
        {"pts": int(p), "duration": int(d), "key_frame": int(k)}
        for p, d, k in zip(pts, durations, is_key, strict=True)
    ]
    return json.dumps({"frames": frames})


@functools.cache
def _problem() -> str | None:
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as error:  # any import failure (missing FFmpeg libraries raise OSError)
        return f"cannot import torchcodec: {error}"
    frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    frames[:, :, :, 0] = np.arange(4, dtype=np.uint8)[:, None, None] * 60
    with tempfile.TemporaryDirectory() as folder:
        path = write_video(Path(folder) / "check.mp4", frames, fps=25, gop=2)
        with av.open(str(path)) as container:
            expected = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        try:
            got = VideoDecoder(str(path), dimension_order="NHWC").get_frames_at([2, 0]).data
        except Exception as error:  # torchcodec raises RuntimeError subclasses and OSError
            return f"torchcodec cannot decode: {error}"
    if not (
        np.array_equal(got[0].numpy(), expected[2]) and np.array_equal(got[1].numpy(), expected[0])
    ):
        return "torchcodec decodes frames differently from PyAV"
    return None
