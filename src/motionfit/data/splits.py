"""Train/validation splits: stratified by class, group-aware, seeded; and list files to keep them.

Hand-written: scikit-learn's StratifiedGroupKFold makes k folds (not a ratio), is not a project
dependency, and does not guarantee every class on both sides.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

from motionfit.atomic import atomic_write_text
from motionfit.data.records import LABELS_FILE, LabelMap, VideoRecord, read_records
from motionfit.data.storage import is_url
from motionfit.errors import DataError
from motionfit.output_dir import check_output_dir, claim_output_dir, releases_output_locks

LIST_COLUMNS = ("path", "label", "start", "end", "group")


def stratified_split(
    records: Sequence[VideoRecord], ratio: float = 0.7, seed: int = 0
) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """Split ``records`` into ``(train, val)`` with about ``ratio`` of each class in train.

    Records sharing a ``group`` always land on the same side (a group name is global: UCF101's
    ``g08`` in every class moves together); records without a group are split one by one.
    When no group spans two classes: per class, the train count is within one group size of
    ``ratio`` times the class size, and every class spread over >= 2 groups (or >= 2 ungrouped
    videos) appears on both sides. When groups span classes both are best effort (they can be
    impossible). A class held by a single group goes to train. Deterministic for a given
    ``seed``; both lists keep the input order.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"split ratio must be in (0, 1), got {ratio}")
    units = _group_units(records)
    unit_counts = [Counter(records[i].label for i in members) for members in units]
    totals = Counter(r.label for r in records)
    units_per_class = Counter(label for counts in unit_counts for label in counts)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(units)).tolist()
    order = sorted(shuffled, key=lambda u: -len(units[u]))  # big groups first, ties shuffled

    # Greedy: each unit goes to the side whose per-class counts are furthest below target
    # (relative to the class size), which keeps every class within one unit of its target.
    deviation = {
        True: {label: -ratio * total for label, total in totals.items()},
        False: {label: -(1.0 - ratio) * total for label, total in totals.items()},
    }
    in_train: dict[int, bool] = {}
    for unit in order:
        counts = unit_counts[unit]
        if all(units_per_class[label] == 1 for label in counts):
            side = True
        else:
            score = {
                s: sum(n * deviation[s][label] / totals[label] ** 2 for label, n in counts.items())
                for s in (True, False)
            }
            side = score[True] < score[False] or (
                score[True] == score[False] and rng.random() < ratio
            )
        in_train[unit] = side
        for label, n in counts.items():
            deviation[side][label] += n
    _cover_both_sides(unit_counts, units_per_class, in_train)
    train_indices = sorted(i for u, members in enumerate(units) if in_train[u] for i in members)
    val_indices = sorted(i for u, members in enumerate(units) if not in_train[u] for i in members)
    return [records[i] for i in train_indices], [records[i] for i in val_indices]


def write_list(records: Sequence[VideoRecord], path: str | Path, label_map: LabelMap) -> Path:
    """Write ``records`` as a CSV list (``path,label,start,end,group``) that
    :func:`~motionfit.data.records.read_records` reads back to equal records.

    Labels are written as class names (a multi-label clip's joined by ``;``) and the class
    order as ``labels.txt`` beside the list (which ``read_records`` picks up); an existing
    different ``labels.txt`` there is an error.
    Paths inside the list's folder are written relative to it, others absolute.
    """
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(label_map):
        labels_file = path.parent / LABELS_FILE
        if not labels_file.exists():
            label_map.save(labels_file)
        elif LabelMap.load(labels_file) != label_map:
            raise DataError(f"{labels_file} exists with other classes; write the list elsewhere")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LIST_COLUMNS)
    for record in records:
        writer.writerow(
            [
                _shown_path(record.path, path.parent),
                ";".join(label_map.name_of(label) for label in record.labels),
                "" if record.start is None else repr(record.start),
                "" if record.end is None else repr(record.end),
                record.group or "",
            ]
        )
    atomic_write_text(path, buffer.getvalue())
    return path


def _shown_path(video: Path, folder: Path) -> str:
    """``video`` as a list line names it: relative to ``folder`` if inside it, a URL as is."""
    if is_url(video):
        return str(video)
    video = Path(os.path.abspath(video))
    return (video.relative_to(folder) if video.is_relative_to(folder) else video).as_posix()


@releases_output_locks  # the output's lock ends with the call
def split_to_dir(
    source: str | Path,
    out_dir: str | Path,
    ratio: float = 0.7,
    seed: int = 0,
    format: str = "auto",
    video_root: str | Path | None = None,
    labels: str | Path | LabelMap | None = None,
    force: bool = False,
) -> tuple[Path, Path]:
    """Read a dataset, split it with :func:`stratified_split` and write ``train.txt``,
    ``val.txt`` and ``labels.txt`` into ``out_dir``; returns the two list paths.

    ``out_dir`` must be new, empty or an earlier split's folder; one with other files only
    with ``force``, and never one that holds the dataset (or lies inside its folder)."""
    inputs = [source, video_root, None if isinstance(labels, LabelMap) else labels]
    check_output_dir(out_dir, "split", force=force, inputs=inputs)
    records, label_map = read_records(source, format=format, video_root=video_root, labels=labels)
    train, val = stratified_split(records, ratio=ratio, seed=seed)
    if not train or not val:
        raise DataError(
            f"{source}: cannot split {len(records)} videos with ratio {ratio}: "
            f"{'validation' if not val else 'training'} side would be empty"
        )
    out = claim_output_dir(out_dir, "split")
    if len(label_map):
        label_map.save(out / LABELS_FILE)
    return write_list(train, out / "train.txt", label_map), write_list(
        val, out / "val.txt", label_map
    )


def _group_units(records: Sequence[VideoRecord]) -> list[list[int]]:
    """Record indices per indivisible unit: one per group name, one per ungrouped record."""
    units: dict[Hashable, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        key: Hashable = ("group", record.group) if record.group is not None else ("video", index)
        units[key].append(index)
    return list(units.values())


def _cover_both_sides(
    unit_counts: list[Counter[int]], units_per_class: Counter[int], in_train: dict[int, bool]
) -> None:
    """Move the smallest unit needed so each class with >= 2 units is on both sides, never
    emptying a side of another such class."""
    side_counts: dict[bool, Counter[int]] = {True: Counter(), False: Counter()}
    for unit, counts in enumerate(unit_counts):
        side_counts[in_train[unit]].update(counts)
    for label in sorted(units_per_class):
        if units_per_class[label] < 2:
            continue
        empty = next((s for s in (True, False) if side_counts[s][label] == 0), None)
        if empty is None:
            continue
        candidates = [
            unit
            for unit, counts in enumerate(unit_counts)
            if label in counts
            and in_train[unit] != empty
            and all(
                side_counts[not empty][other] > n or units_per_class[other] < 2
                for other, n in counts.items()
            )
        ]
        if not candidates:
            continue
        unit = min(candidates, key=lambda u: (sum(unit_counts[u].values()), u))
        in_train[unit] = empty
        side_counts[not empty].subtract(unit_counts[unit])
        side_counts[empty].update(unit_counts[unit])
