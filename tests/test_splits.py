"""Stratified, group-aware splits and list files that read back to the same records."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motionfit.data.encode import write_video
from motionfit.data.records import LabelMap, VideoRecord, read_records
from motionfit.data.splits import split_to_dir, stratified_split, write_list
from motionfit.errors import DataError

# (label, group index or None) per video; group names are made per class or global below
videos = st.lists(
    st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 5))), min_size=1, max_size=80
)
ratios = st.floats(0.1, 0.9)


def make_records(spec: list[tuple[int, int | None]], per_class_groups: bool) -> list[VideoRecord]:
    """Records with distinct paths; group names unique per class, or shared across classes."""
    records = []
    for index, (label, group) in enumerate(spec):
        name = None if group is None else (f"c{label}g{group}" if per_class_groups else f"g{group}")
        records.append(VideoRecord(Path(f"/videos/{index}.mp4"), label, group=name))
    return records


def unit_key(record: VideoRecord) -> object:
    return record.group if record.group is not None else record.path


@settings(max_examples=150, deadline=None)
@given(spec=videos, ratio=ratios, seed=st.integers(0, 2**32 - 1))
def test_split_per_class_groups_is_exact_stratified_and_deterministic(
    spec: list[tuple[int, int | None]], ratio: float, seed: int
) -> None:
    records = make_records(spec, per_class_groups=True)
    train, val = stratified_split(records, ratio=ratio, seed=seed)

    # a partition, input order kept, deterministic
    assert sorted(train + val, key=records.index) == records
    assert train == sorted(train, key=records.index) and val == sorted(val, key=records.index)
    assert (train, val) == stratified_split(records, ratio=ratio, seed=seed)
    # no group on both sides
    assert not {r.group for r in train if r.group} & {r.group for r in val if r.group}

    for label in {r.label for r in records}:
        in_class = [r for r in records if r.label == label]
        sizes = Counter(unit_key(r) for r in in_class)
        n_train = sum(r.label == label for r in train)
        # within one unit (group or video) of the target
        assert abs(n_train - ratio * len(in_class)) <= max(sizes.values()) + 1e-9
        if len(sizes) >= 2:  # stratification: both sides see the class
            assert 0 < n_train < len(in_class)
        else:  # a class in one unit is kept for training
            assert n_train == len(in_class)


@settings(max_examples=100, deadline=None)
@given(spec=videos, ratio=ratios, seed=st.integers(0, 1000))
def test_split_global_groups_never_straddle(
    spec: list[tuple[int, int | None]], ratio: float, seed: int
) -> None:
    records = make_records(spec, per_class_groups=False)
    train, val = stratified_split(records, ratio=ratio, seed=seed)
    assert len(train) + len(val) == len(records) and set(train).isdisjoint(val)
    assert not {r.group for r in train if r.group} & {r.group for r in val if r.group}
    assert (train, val) == stratified_split(records, ratio=ratio, seed=seed)


def test_split_ratio_on_a_large_ungrouped_dataset_and_seed_changes_membership() -> None:
    rng = np.random.default_rng(0)
    records = [VideoRecord(Path(f"/v/{i}.mp4"), int(rng.integers(0, 10))) for i in range(1000)]
    train, _ = stratified_split(records, ratio=0.7, seed=1)
    for label in range(10):
        total = sum(r.label == label for r in records)
        assert abs(sum(r.label == label for r in train) - 0.7 * total) <= 1
    other, _ = stratified_split(records, ratio=0.7, seed=2)
    assert set(train) != set(other)


def test_ucf_style_global_groups_move_together() -> None:
    records = [
        VideoRecord(Path(f"/ucf/c{c}_g{g:02d}_{k}.avi"), c, group=f"g{g:02d}")
        for c in range(3)
        for g in range(1, 11)
        for k in range(4)
    ]
    train, val = stratified_split(records, ratio=0.7, seed=0)
    train_groups = {r.group for r in train}
    assert train_groups.isdisjoint({r.group for r in val})
    assert len(train_groups) == 7
    for label in range(3):  # every class keeps all of its videos of a group on one side
        assert sum(r.label == label for r in train) == 28


def test_split_rejects_bad_ratio() -> None:
    with pytest.raises(ValueError, match="ratio"):
        stratified_split([VideoRecord(Path("/a.mp4"), 0)], ratio=1.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny real h264 file."""
    frames = np.random.default_rng(1).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=8)


@pytest.fixture
def dataset(tmp_path: Path, clip: Path) -> Path:
    """A folder-per-class dataset of real tiny h264 files (4 classes x 5 videos)."""
    root = tmp_path / "data"
    for cls in ("walk", "run", "left turn", "right, turn"):
        (root / cls).mkdir(parents=True)
        for index in range(5):
            shutil.copyfile(clip, root / cls / f"v{index}.mp4")
    return root


def test_write_list_round_trips_segments_groups_and_names(tmp_path: Path, dataset: Path) -> None:
    records, label_map = read_records(dataset)
    records = [
        VideoRecord(r.path, r.label, *((1.25, 2.5) if i % 2 else (None, None)), f"g{i % 3}")
        for i, r in enumerate(records)
    ]
    unsorted_map = LabelMap.from_names(reversed(label_map.names))
    records = [
        VideoRecord(r.path, unsorted_map.id_of(label_map.name_of(r.label)), r.start, r.end, r.group)
        for r in records
    ]
    inside = write_list(records, dataset.parent / "all.txt", unsorted_map)
    outside = write_list(records, tmp_path / "elsewhere" / "all.csv", unsorted_map)

    assert "\ndata/walk/v0.mp4," in inside.read_text()  # inside: relative paths
    assert str(dataset / "walk" / "v0.mp4") in outside.read_text()  # outside: absolute paths
    for path in (inside, outside):
        read, read_map = read_records(path)
        assert read == records
        assert read_map == unsorted_map

    with pytest.raises(DataError, match="exists with other classes"):
        write_list(records, tmp_path / "elsewhere" / "other.txt", label_map)


def test_write_list_relative_paths(tmp_path: Path, dataset: Path) -> None:
    records, label_map = read_records(dataset)
    path = write_list(records, dataset.parent / "index.txt", label_map)
    lines = path.read_text().splitlines()
    assert lines[0] == "path,label,start,end,group"
    assert lines[1] == "data/left turn/v0.mp4,left turn,,,"
    assert lines[6] == 'data/right, turn/v0.mp4,"right, turn",,,'.replace(
        "data/right, turn/v0.mp4", '"data/right, turn/v0.mp4"'
    )
    assert read_records(path)[0] == records


def test_split_to_dir_writes_lists_that_read_back(tmp_path: Path, dataset: Path) -> None:
    train_path, val_path = split_to_dir(dataset, tmp_path / "split", ratio=0.6, seed=3)

    assert (train_path.name, val_path.name) == ("train.txt", "val.txt")
    records, label_map = read_records(dataset)
    assert LabelMap.load(tmp_path / "split" / "labels.txt") == label_map
    train, train_map = read_records(train_path)
    val, _ = read_records(val_path)
    assert train_map == label_map
    assert (train, val) == stratified_split(records, ratio=0.6, seed=3)
    assert Counter(r.label for r in train) == dict.fromkeys(range(4), 3)

    single = tmp_path / "single" / "walk" / "v.mp4"
    single.parent.mkdir(parents=True)
    shutil.copyfile(dataset / "walk" / "v0.mp4", single)
    with pytest.raises(DataError, match="validation side would be empty"):
        split_to_dir(tmp_path / "single", tmp_path / "one")
