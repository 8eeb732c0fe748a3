"""``motionfit data inspect``: what a dataset holds before training on it."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from motionfit.data.decode import VideoMeta, probe
from motionfit.data.records import VideoRecord, read_records
from motionfit.errors import VideoDecodeError
from motionfit.progress import track


@dataclass
class ClassSummary:
    """Videos and duration of one class."""

    name: str
    videos: int = 0
    seconds: float = 0.0
    min_seconds: float = float("inf")
    max_seconds: float = 0.0


@dataclass
class DatasetSummary:
    """Per-class counts and durations, frame-rate and resolution spread, unreadable files."""

    source: str
    videos: int
    readable: int
    classes: list[ClassSummary]
    fps: dict[str, float]  # min, median, max
    resolutions: dict[str, int]  # "WxH" -> videos
    frames: dict[str, float]  # min, median, max
    unreadable: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def inspect_dataset(
    source: str | Path, format: str = "auto", video_root: str | Path | None = None, workers: int = 8
) -> DatasetSummary:
    """Read ``source`` and probe every video (in threads; probing is I/O and demuxing)."""
    records, labels = read_records(source, format=format, video_root=video_root)
    metas = probe_all(records, workers)
    per_class: dict[int, ClassSummary] = {}
    unreadable = []
    fps: list[float] = []
    frames: list[int] = []
    sizes: Counter[str] = Counter()
    for record, meta in zip(records, metas, strict=True):
        if isinstance(meta, str):
            unreadable.append({"video": str(record.path), "reason": meta})
            continue
        name = labels.name_of(record.label) if record.label >= 0 else "(unlabeled)"
        summary = per_class.setdefault(record.label, ClassSummary(name))
        seconds = _segment_seconds(meta, record.start, record.end)
        summary.videos += 1
        summary.seconds += seconds
        summary.min_seconds = min(summary.min_seconds, seconds)
        summary.max_seconds = max(summary.max_seconds, seconds)
        fps.append(meta.fps)
        frames.append(meta.num_frames)
        sizes[f"{meta.width}x{meta.height}"] += 1
    for label, name in enumerate(labels.names):  # classes whose videos are all unreadable
        per_class.setdefault(label, ClassSummary(name, min_seconds=0.0))
    return DatasetSummary(
        source=str(source),
        videos=len(records),
        readable=len(records) - len(unreadable),
        classes=[per_class[k] for k in sorted(per_class)],
        fps=_spread(fps),
        resolutions=dict(sizes.most_common()),
        frames=_spread(frames),
        unreadable=unreadable,
    )


def probe_all(records: Sequence[VideoRecord], workers: int = 8) -> list[VideoMeta | str]:
    """The :class:`VideoMeta` of every record's video, or the reason it cannot be read, in
    order (probed in threads: probing is I/O and demuxing), with a progress bar."""
    with ThreadPoolExecutor(workers) as pool:
        probes = pool.map(_probe_or_reason, [r.path for r in records])
        return list(track(probes, "probing videos", total=len(records)))


def _probe_or_reason(path: Path) -> VideoMeta | str:
    try:
        return probe(path)
    except VideoDecodeError as exc:
        return str(exc)


def _segment_seconds(meta: VideoMeta, start: float | None, end: float | None) -> float:
    begin = start or 0.0
    stop = meta.duration if end is None else min(end, meta.duration)
    return max(0.0, stop - begin)


def _spread(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}
