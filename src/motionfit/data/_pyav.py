"""PyAV backend: a per-file packet index and frame-exact decoding of a window of frames.

Frame ``k`` is the ``k``-th frame a full sequential decode returns. One demux-only pass (no
decoding) indexes the video packets; a read then seeks to the keyframe at or before the first
wanted frame, decodes up to the last wanted one and converts (and scales) only the wanted frames.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import torch

from motionfit.errors import VideoDecodeError

# Containers whose packet pts are decode-order counters rather than presentation times (AVI
# stores none; FFmpeg fills in a guess). Frames there are numbered by counting decoder output.
_DECODE_ORDER_TIMESTAMP_FORMATS = frozenset({"avi"})


@dataclass(frozen=True, eq=False)
class PacketIndex:
    """What one demux pass learns about a video stream, enough to find any frame quickly."""

    stream_index: int
    num_frames: int
    fps: float
    width: int
    height: int
    frame_pts: np.ndarray | None
    """Presentation timestamp of frame ``k`` (ascending); ``None`` = number frames by counting."""
    key_frames: np.ndarray
    """Frame number of each seekable keyframe, ascending (empty = decode from the start)."""
    key_pts: np.ndarray
    """The pts to seek to for each entry of ``key_frames``."""
    truncated: bool
    """The file ends in a truncated or corrupt packet; frames are counted up to it."""
    time_base: Fraction | None = None
    """Seconds per pts unit of the stream (``None``: unknown)."""

    def frame_times(self) -> np.ndarray:
        """Seconds of each frame from the first one: its presentation time when the file has
        trustworthy timestamps (variable frame rate stays variable), else ``k / fps``."""
        return self._times

    @functools.cached_property
    def _times(self) -> np.ndarray:
        if self.frame_pts is None or not self.time_base:
            return np.arange(self.num_frames, dtype=np.float64) / self.fps
        return (self.frame_pts - self.frame_pts[0]).astype(np.float64) * float(self.time_base)

    @functools.cached_property
    def variable_rate(self) -> bool:
        """Frame times drift from a constant rate by more than a quarter of a frame somewhere
        (phone video): then frame ``k`` is not shown at ``k / fps``."""
        if self.num_frames < 3:
            return False
        times = self._times
        interval = times[-1] / (self.num_frames - 1)
        grid = np.arange(self.num_frames) * interval
        return bool(interval > 0 and np.abs(times - grid).max() > 0.25 * interval)

    def frames_at(self, seconds: np.ndarray) -> np.ndarray:
        """The frame shown nearest to each time in ``seconds`` (from the first frame)."""
        times = self._times
        after = np.clip(np.searchsorted(times, seconds), 1, max(1, self.num_frames - 1))
        before = after - 1
        nearer_before = np.abs(seconds - times[before]) <= np.abs(times[after] - seconds)
        return np.where(nearer_before, before, after).clip(0, self.num_frames - 1)

    def duration(self) -> float:
        """Seconds covered by the frames: the last frame's time plus one mean frame interval
        (``num_frames / fps`` for a constant rate)."""
        times = self.frame_times()
        if self.num_frames < 2:
            return self.num_frames / self.fps
        return float(times[-1]) * self.num_frames / (self.num_frames - 1)


def index_video(path: Path | BinaryIO) -> PacketIndex:
    """Demux (without decoding) the best video stream of ``path`` into a :class:`PacketIndex`.
    ``path`` may also be a seekable binary file object (read through range requests).

    Raises :class:`VideoDecodeError` naming the file if it is not a readable video.
    """
    try:
        with _open(path) as container:
            stream = container.streams.best("video")
            if stream is None:
                raise VideoDecodeError(f"{path}: no video stream")
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            time_base = stream.time_base
            scan = _scan_packets(container, stream)
            reorders = bool(stream.codec_context.has_b_frames)
            format_name = container.format.name
            stream_index = stream.index
    except (av.FFmpegError, OSError) as error:
        raise VideoDecodeError(f"{path}: not a readable video ({error.strerror})") from error
    if not rate:
        raise VideoDecodeError(f"{path}: the video stream has no frame rate")
    num_frames, frame_pts, key_frames, key_pts = _timeline(scan, format_name, reorders)
    if not num_frames:
        raise VideoDecodeError(f"{path}: the video stream has no readable frames")
    if scan.truncated:
        warnings.warn(
            f"{path}: truncated or corrupt after frame {num_frames}; using the frames before it",
            stacklevel=5,  # the caller of motionfit.data.decode.probe / read_clip
        )
    return PacketIndex(
        stream_index=stream_index,
        num_frames=num_frames,
        fps=float(rate),
        width=width,
        height=height,
        frame_pts=frame_pts,
        key_frames=key_frames,
        key_pts=key_pts,
        truncated=scan.truncated,
        time_base=Fraction(time_base) if time_base else None,
    )


def read_frames(
    path: Path | BinaryIO, index: PacketIndex, indices: np.ndarray, width: int, height: int
) -> torch.Tensor:
    """Decode frames ``indices`` (in range, any order, repeats allowed) of the video at ``path``
    as uint8 ``[T, 3, height, width]`` RGB, scaled to ``width`` x ``height`` while converting.

    The result is a channels-last view (``permute`` of a ``[T, H, W, 3]`` array, no copy).
    """
    rows_of = {int(k): np.flatnonzero(indices == k) for k in np.unique(indices)}
    first, last = min(rows_of), max(rows_of)
    out = np.empty((len(indices), height, width, 3), dtype=np.uint8)
    try:
        with _open(path) as container:
            stream = container.streams[index.stream_index]
            # one decoder thread: DataLoader workers are the parallelism, and FFmpeg's own
            # threads cost more than they save on the short windows of a clip (2.4x on 64 px)
            stream.codec_context.thread_count = 1
            for number, frame in _numbered_frames(container, stream, index, first, last):
                rows = rows_of.pop(number, None)
                if rows is None:
                    continue
                out[rows] = _rgb(frame, width, height)
                if not rows_of:
                    break
    except (av.FFmpegError, OSError) as error:
        raise VideoDecodeError(f"{path}: decoding failed ({error.strerror})") from error
    if rows_of:
        raise VideoDecodeError(
            f"{path}: frames {sorted(rows_of)[:8]} could not be decoded (corrupt file?)"
        )
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def iter_frames(path: Path, index: PacketIndex) -> Iterator[av.VideoFrame]:
    """Every frame of the video at ``path`` in order (frame ``k`` is the ``k``-th yielded), up
    to ``index.num_frames``; for transcoding a whole file. Raises :class:`VideoDecodeError` if
    a frame cannot be decoded."""
    try:
        with _open(path) as container:
            stream = container.streams[index.stream_index]
            stream.codec_context.thread_count = 1
            expected = 0
            for number, frame in _numbered_frames(
                container, stream, index, 0, index.num_frames - 1
            ):
                if number != expected:
                    break
                yield frame
                expected += 1
    except (av.FFmpegError, OSError) as error:
        raise VideoDecodeError(f"{path}: decoding failed ({error.strerror})") from error
    if expected != index.num_frames:
        raise VideoDecodeError(
            f"{path}: only {expected} of {index.num_frames} frames could be decoded (corrupt file?)"
        )


def _open(path: Path | BinaryIO) -> av.container.InputContainer:
    # Undecodable metadata text (common in downloaded clips) must not make a video unreadable.
    if isinstance(path, Path):
        return av.open(str(path), metadata_errors="ignore")
    path.seek(0)
    return av.open(path, mode="r", metadata_errors="ignore")


@dataclass
class _PacketScan:
    """The frame-carrying packets of a stream in decode order, up to any damage."""

    pts: list[int | None] = field(default_factory=list)
    keyframe: list[bool] = field(default_factory=list)
    truncated: bool = False
    complete_below: int | None = None
    """If truncated: every frame with a smaller pts was read (unread packets have dts >= it)."""


def _rgb(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """``frame`` as ``[height, width, 3]`` RGB. YUV frames are scaled before the conversion:
    FFmpeg scales YUV 2-3x faster than it scales and converts to rgb24 in one pass."""
    if (frame.width, frame.height) != (width, height) and frame.format.name.startswith("yuv"):
        frame = frame.reformat(width=width, height=height, threads=1)
    return frame.to_ndarray(format="rgb24", width=width, height=height, threads=1)


def _scan_packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> _PacketScan:
    """Pts and keyframe flags of the packets that carry a frame, up to any damage."""
    scan = _PacketScan()
    last_dts = None
    for packet in _packets_until_damage(container, stream):
        if packet is None:
            scan.truncated = True
            scan.complete_below = None if last_dts is None else last_dts + 1
            return scan
        if packet.size and not packet.is_discard:
            scan.pts.append(packet.pts)
            scan.keyframe.append(packet.is_keyframe)
            last_dts = packet.dts if packet.dts is not None else last_dts
    return scan


def _packets_until_damage(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[av.Packet | None]:
    """Demuxed packets of ``stream``; a final ``None`` marks a truncated or corrupt rest of the
    file (a partially read packet or a demuxer error), after which nothing is read."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:
            yield None
            return
        if packet.is_corrupt:
            yield None
            return
        yield packet


def _timeline(
    scan: _PacketScan, format_name: str, reorders: bool
) -> tuple[int, np.ndarray | None, np.ndarray, np.ndarray]:
    """Frame count, frame pts (if presentation order can be trusted) and the seekable
    keyframes as (frame number, pts) pairs. ``reorders``: the codec may reorder frames."""
    no_seek = np.empty(0, dtype=np.int64)
    pts, keyframe = scan.pts, scan.keyframe
    if None in pts or len(set(pts)) != len(pts):
        # No usable timestamps (raw streams): decode from the start and count frames.
        return len(pts), None, no_seek, no_seek
    all_pts = np.asarray(pts, dtype=np.int64)
    is_key = np.asarray(keyframe, dtype=bool)
    in_display_order = format_name not in _DECODE_ORDER_TIMESTAMP_FORMATS
    if in_display_order and scan.complete_below is not None:
        # Truncated: keep the frames before the first one that may be missing.
        kept = all_pts < scan.complete_below
        all_pts, is_key = all_pts[kept], is_key[kept]
    # In AVI, FFmpeg's parser gives real presentation times for some codecs (MPEG-4 Part 2:
    # pts out of decode order) and only decode-order counters for others (H.264): those place
    # a keyframe right only when frames are never reordered (open GOPs shift them).
    if not (in_display_order or not reorders or np.any(np.diff(all_pts) < 0)):
        return len(all_pts), None, no_seek, no_seek
    sorted_pts = np.sort(all_pts)
    key_pts = np.sort(all_pts[is_key])
    key_frames = np.searchsorted(sorted_pts, key_pts)  # a keyframe's number is its pts rank
    return len(sorted_pts), (sorted_pts if in_display_order else None), key_frames, key_pts


def _numbered_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    index: PacketIndex,
    first: int,
    last: int,
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Decoded frames with their frame numbers, from the keyframe at or before ``first`` until
    frame ``last`` (or the end of the stream)."""
    start = int(np.searchsorted(index.key_frames, first, side="right")) - 1
    seek_pts = int(index.key_pts[start]) if start > 0 else None
    frames = _decode_from(container, stream, seek_pts)
    if index.frame_pts is not None:
        last_pts = index.frame_pts[last]
        for frame in frames:
            if frame.pts is None:
                continue
            number = int(np.searchsorted(index.frame_pts, frame.pts))
            if number < index.num_frames and index.frame_pts[number] == frame.pts:
                yield number, frame
            if frame.pts >= last_pts:
                return
        return
    # Counting: after a seek the decoder may first emit leading frames of an open GOP, which
    # belong before the keyframe; the count starts at the keyframe itself.
    number = int(index.key_frames[start]) if seek_pts is not None else 0
    at_keyframe = seek_pts is None
    for frame in frames:
        at_keyframe = at_keyframe or frame.key_frame
        if not at_keyframe:
            continue
        yield number, frame
        if number >= last:
            return
        number += 1


def _decode_from(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    seek_pts: int | None,
) -> Iterator[av.VideoFrame]:
    """Frames decoded from the keyframe whose pts is ``seek_pts`` (``None``: from the start) to
    the end of the stream or of its undamaged part."""
    if seek_pts is not None:
        container.seek(seek_pts, stream=stream, backward=True)
    at_keyframe = seek_pts is None
    for packet in _packets_until_damage(container, stream):
        if packet is None:
            yield from stream.decode(None)
            return
        at_keyframe = at_keyframe or packet.pts == seek_pts
        if at_keyframe:
            yield from packet.decode()
