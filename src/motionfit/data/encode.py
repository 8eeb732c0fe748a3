"""Writing frames to a real encoded video file with PyAV (synthetic data, tests, previews)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# codec name -> (PyAV encoder, pixel format)
_ENCODERS = {
    "h264": ("libx264", "yuv420p"),
    "mpeg4": ("mpeg4", "yuv420p"),
    "vp9": ("libvpx-vp9", "yuv420p"),
    "hevc": ("libx265", "yuv420p"),
    "mjpeg": ("mjpeg", "yuvj420p"),
}


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float | Fraction = 25,
    codec: str = "h264",
    gop: int = 12,
    bframes: int = 2,
    crf: int = 18,
    audio: bool = False,
) -> Path:
    """Encode ``frames`` (uint8 ``[T, H, W, 3]`` RGB) to ``path``; the container comes from the
    suffix (``.mp4``, ``.avi``, ``.mkv``, ``.webm``).

    ``gop`` is the keyframe interval and ``bframes`` the number of consecutive B-frames (h264,
    hevc, mpeg4), so tests can exercise seeking and reordering. ``audio`` adds a silent AAC/MP3
    track. Encoding is deterministic for the same input.
    """
    path = Path(path)
    frames = np.ascontiguousarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    encoder, pix_fmt = _ENCODERS[codec]
    rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(encoder, rate=rate)
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = pix_fmt
        stream.options = _encoder_options(codec, gop, bframes, crf)
        if codec in {"h264", "hevc", "mpeg4"}:
            stream.codec_context.gop_size = gop
        audio_stream = _add_silent_audio(container, path.suffix) if audio else None
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
            if audio_stream is not None:
                _mux_audio_for_frame(container, audio_stream, index, rate)
        container.mux(stream.encode())
        if audio_stream is not None:
            container.mux(audio_stream.encode())
    return path


def _encoder_options(codec: str, gop: int, bframes: int, crf: int) -> dict[str, str]:
    if codec == "h264":
        return {
            "crf": str(crf),
            "preset": "veryfast",
            "g": str(gop),
            "keyint_min": str(gop),
            "bf": str(bframes),
            "threads": "1",
            # x264's macroblock-tree rate control gave different bytes (and pixels) for the same
            # frames in 2-7 of 24 encodes in one process (measured, PyAV 18 / x264 core 165);
            # without it, and single-threaded, every encode is bit-identical
            "x264-params": "mbtree=0",
        }
    if codec == "hevc":
        return {
            "crf": str(crf),
            "preset": "ultrafast",
            "x265-params": f"keyint={gop}:bframes={bframes}:log-level=none",
        }
    if codec == "vp9":
        return {"crf": str(crf), "b": "0", "g": str(gop), "deadline": "realtime", "cpu-used": "8"}
    if codec == "mpeg4":
        return {"qscale": "3", "g": str(gop), "bf": str(bframes)}
    return {}


def _add_silent_audio(container: av.container.OutputContainer, suffix: str) -> av.AudioStream:
    codec = {".avi": "mp3", ".webm": "libopus"}.get(suffix, "aac")
    stream = container.add_stream(codec, rate=16000)
    assert isinstance(stream, av.AudioStream)  # an audio codec makes an audio stream
    stream.layout = "mono"
    return stream


def _mux_audio_for_frame(container, stream, index: int, rate: Fraction) -> None:
    start = int(index * 16000 / rate)
    samples = int((index + 1) * 16000 / rate) - start
    silence = np.zeros((1, samples), dtype=np.float32)
    fmt = stream.codec_context.format.name
    dtype = {"s16": np.int16, "s32": np.int32, "flt": np.float32}[fmt.rstrip("p")]
    silence = silence.astype(dtype)
    frame = av.AudioFrame.from_ndarray(silence, format=fmt, layout="mono")
    frame.sample_rate = 16000
    frame.pts = start
    container.mux(stream.encode(frame))
