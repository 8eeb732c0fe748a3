"""The ``hmdb51`` format: the official ``<class>_test_split<N>.txt`` files.

Each line is ``video.avi 0|1|2`` (1 = train, 2 = test, 0 = unused). The source is their folder
or any one of them, optionally followed by ``@train``, ``@test``, ``@train2``, ``@test3``
(subset and split number; default ``@train1``, or the split number of the named file). All
classes of that split are read; videos are ``<video_root>/<class>/<video>``. No groups.
"""

from __future__ import annotations

import re
from pathlib import Path

from motionfit.data.records import (
    LabelMap,
    ReadRequest,
    VideoRecord,
    absolute,
    check_some_exist,
    data_lines,
)
from motionfit.data.storage import as_path
from motionfit.errors import DataError

_SUBSETS = {"train": "1", "test": "2"}
_SELECTOR = re.compile(r"^(?P<subset>train|test)(?P<split>[1-3])?$")
_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$")


def read(request: ReadRequest) -> tuple[list[VideoRecord], LabelMap]:
    """The videos of the selected subset and split, every class of the split."""
    path, label_map = request.path, request.labels
    folder = path if path.is_dir() else path.parent
    named = _FILE.match(path.name) if path.is_file() else None
    if path.is_file() and named is None:
        raise DataError(f"{path}: not an HMDB51 split file (<class>_test_split<N>.txt)")
    chosen = _SELECTOR.match(request.selector or "train")
    if chosen is None:
        raise DataError(f"{path}: '@{request.selector}' is not an HMDB51 split selector")
    subset = chosen.group("subset")
    split = chosen.group("split") or (named.group("split") if named else "1")
    files = []
    classes = []
    for split_file in sorted(folder.glob(f"*_test_split{split}.txt")):
        match = _FILE.match(split_file.name)
        if match is not None:
            files.append(split_file)
            classes.append(match.group("cls"))
    if not files:
        raise DataError(f"{folder}: no HMDB51 split files '*_test_split{split}.txt'")
    if label_map is None:
        label_map = LabelMap.from_names(classes)
    root = request.root or folder
    wanted = _SUBSETS[subset]
    records = []
    for class_name, split_file in zip(classes, files, strict=True):
        if class_name not in label_map:
            raise DataError(f"{split_file}: class {class_name!r} is not in the label map")
        label = label_map.id_of(class_name)
        for number, line in data_lines(split_file):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in {"0", "1", "2"}:
                raise DataError(f"{split_file}:{number}: expected 'video.avi 0|1|2'")
            if fields[1] == wanted:
                records.append(VideoRecord(absolute(root / class_name / fields[0]), label))
    check_some_exist(records, path, request.root)
    return records, label_map


def sniff(path: Path) -> bool:
    """True for an official split file, or a folder holding some."""
    if path.is_file():
        return _FILE.match(path.name) is not None
    return any(_FILE.match(p.name) for p in path.glob("*_test_split*.txt"))


def split_selector(source: str) -> tuple[Path, str]:
    """``'splits@test2'`` -> (Path('splits'), 'test2'); other sources have no selector."""
    head, sep, tail = source.rpartition("@")
    if sep and _SELECTOR.match(tail):
        return as_path(head), tail
    return as_path(source), ""
