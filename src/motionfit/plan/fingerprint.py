"""The dataset fingerprint: what a plan needs to know about the data, read once.

Like nnU-Net's fingerprint (Isensee et al., Nature Methods 2021), it is a small record of the
properties that decide the training settings: how long the videos (or their annotated segments)
are in frames and seconds, at which frame rates, their resolution, how many classes and videos
per class, whether class names are mirror-sensitive, and how many files cannot be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from motionfit.data.decode import VideoMeta
from motionfit.data.inspect import probe_all
from motionfit.data.records import VideoRecord, read_records
from motionfit.errors import DataError


@dataclass(frozen=True)
class Spread:
    """Low (10th percentile), median and high (90th percentile) of a quantity, and its range."""

    low: float
    median: float
    high: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of ``values`` (at least one)."""
        array = np.asarray(values, dtype=np.float64)
        low, median, high = np.percentile(array, [10, 50, 90])
        return cls(float(low), float(median), float(high), float(array.min()), float(array.max()))

    def text(self, unit: str = "", digits: int = 0) -> str:
        """``min / median / max`` for people, e.g. ``1.1 / 3.1 / 9.4 s``."""
        values = " / ".join(f"{v:.{digits}f}" for v in (self.min, self.median, self.max))
        return f"{values}{' ' + unit if unit else ''}"


@dataclass(frozen=True)
class DataFingerprint:
    """What the planning rules read about a labeled dataset.

    Attributes:
        source: the data as given.
        videos: records listed; ``readable`` of them could be probed.
        unreadable: ``(path, reason)`` of the others.
        classes: class names in label order; ``per_class`` readable videos of each.
        frames, seconds, fps: per readable video (its annotated segment where it has one).
        short_side, long_side: frame size in pixels; ``portrait`` share of taller-than-wide videos.
        segments: records restricted to an annotated segment (``start``/``end``).
        grouped: readable records that name a group (recording session, subject: kept on one
            side of the train/validation split).
    """

    source: str
    videos: int
    readable: int
    unreadable: tuple[tuple[str, str], ...]
    classes: tuple[str, ...]
    per_class: tuple[int, ...]
    frames: Spread
    seconds: Spread
    fps: Spread
    short_side: Spread
    long_side: Spread
    portrait: float
    segments: int
    grouped: int = 0

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    @property
    def imbalance(self) -> float:
        """Videos of the largest class over videos of the smallest (inf with an empty class)."""
        return max(self.per_class) / min(self.per_class) if min(self.per_class) else float("inf")

    def summary(self) -> list[str]:
        """A few lines describing the data, for the plan's header."""
        return [
            f"{self.readable} readable videos of {self.videos}"
            + (f" ({self.segments} annotated segments)" if self.segments else "")
            + f", {len(self.classes)} classes, {min(self.per_class)}-{max(self.per_class)} "
            "videos per class",
            f"length {self.seconds.text('s', 2)}, {self.frames.text('frames')} at "
            f"{self.fps.text('fps', 1)} (min / median / max)",
            f"frames {self.long_side.median:.0f}x{self.short_side.median:.0f} px (median long x "
            f"short side; short side {self.short_side.text('px')})"
            + (f", {self.portrait:.0%} portrait" if self.portrait else ""),
        ]


def fingerprint_records(
    source: str, records: Sequence[VideoRecord], classes: Sequence[str], workers: int = 8
) -> DataFingerprint:
    """Probe every record's video once and summarize what the planning rules read."""
    metas = probe_all(records, workers)
    readable = [(r, m) for r, m in zip(records, metas, strict=True) if isinstance(m, VideoMeta)]
    unreadable = tuple(
        (str(r.path), m) for r, m in zip(records, metas, strict=True) if isinstance(m, str)
    )
    if not readable:
        raise DataError(f"{source}: none of its {len(records)} videos can be read")
    per_class = np.bincount([r.label for r, _ in readable], minlength=len(classes))
    seconds = [_segment_seconds(r, m) for r, m in readable]
    fps = [m.fps for _, m in readable]
    short = [min(m.width, m.height) for _, m in readable]
    long = [max(m.width, m.height) for _, m in readable]
    return DataFingerprint(
        source=source,
        videos=len(records),
        readable=len(readable),
        unreadable=unreadable,
        classes=tuple(classes),
        per_class=tuple(int(n) for n in per_class),
        frames=Spread.of([_segment_frames(r, m) for r, m in readable]),
        seconds=Spread.of(seconds),
        fps=Spread.of(fps),
        short_side=Spread.of(short),
        long_side=Spread.of(long),
        portrait=float(np.mean([m.height > m.width for _, m in readable])),
        segments=sum(r.start is not None or r.end is not None for r, _ in readable),
        grouped=sum(r.group is not None for r, _ in readable),
    )


def fingerprint(
    source: str, format: str = "auto", video_root: str | None = None, labels: str | None = None
) -> DataFingerprint:
    """Read the labeled dataset ``source`` (any format ``motionfit train`` reads) and
    fingerprint it."""
    records, label_map = read_records(source, format, video_root, labels)
    if any(r.label < 0 for r in records):
        raise DataError(f"{source}: has unlabeled videos; a training plan needs labels")
    if len(label_map) < 2:
        raise DataError(f"{source}: a classifier needs at least 2 classes, got {len(label_map)}")
    return fingerprint_records(source, records, label_map.names)


def _segment_seconds(record: VideoRecord, meta: VideoMeta) -> float:
    """Seconds of the record's segment (the whole video without one)."""
    start = record.start or 0.0
    end = meta.duration if record.end is None else min(record.end, meta.duration)
    return max(1.0 / max(meta.fps, 1e-6), end - start)


def _segment_frames(record: VideoRecord, meta: VideoMeta) -> int:
    """Frames of the record's segment (the whole video's count without one)."""
    if record.start is None and record.end is None:
        return meta.num_frames
    return max(1, round(_segment_seconds(record, meta) * meta.fps))
