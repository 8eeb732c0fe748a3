"""The ``rawframes`` format: mmaction2 frame folders.

An mmaction2 list, one ``frame_dir total_frames label`` per line (``frame_dir`` relative to
``video_root``, default the list's folder; a ``labels.txt`` beside the list fixes the class
order), or a folder-per-class tree of frame folders, read as the ``folder`` format.
"""

from __future__ import annotations

from pathlib import Path

from motionfit.data.formats import folder
from motionfit.data.records import (
    LIST_SUFFIXES,
    Entry,
    LabelMap,
    ReadRequest,
    VideoRecord,
    absolute,
    beside_labels,
    check_some_exist,
    data_lines,
    is_int,
    label_entries,
)
from motionfit.errors import DataError


def read(request: ReadRequest) -> tuple[list[VideoRecord], LabelMap]:
    """The frame folders of an mmaction2 rawframes list, or of a class-per-folder tree."""
    if request.path.is_dir():
        return folder.read(request)
    path = request.path
    root = request.root or path.parent
    label_map = request.labels if request.labels is not None else beside_labels(path)
    entries = []
    for number, line in data_lines(path):
        fields = line.split()
        if len(fields) != 3 or not fields[1].isdigit():
            raise DataError(f"{path}:{number}: expected 'frame_dir total_frames label'")
        entries.append(Entry(number, absolute(root / fields[0]), fields[2]))
    records, label_map = label_entries(path, entries, label_map)
    check_some_exist(records, path, request.root)
    return records, label_map


def sniff(path: Path) -> bool:
    """True for a list file whose first entry reads ``frame_dir total_frames label`` (integer
    columns). A class tree of frame folders is recognized as the ``folder`` format."""
    if not (path.is_file() and path.suffix.lower() in LIST_SUFFIXES):
        return False
    for _, line in data_lines(path):
        fields = line.split()
        return len(fields) == 3 and fields[1].isdigit() and is_int(fields[2])
    return False
