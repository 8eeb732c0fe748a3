"""The ``unlabeled`` format: every video file and frame folder under a folder, recursively.

Records get label -1 (and the UCF101 group of a file named in its layout).
"""

from __future__ import annotations

from pathlib import Path

from motionfit.data.formats.folder import has_class_folders
from motionfit.data.formats.ucf101 import file_group
from motionfit.data.records import (
    Fence,
    LabelMap,
    ReadRequest,
    VideoRecord,
    find_samples,
    real_path,
    visible_children,
)
from motionfit.errors import DataError


def read(request: ReadRequest) -> tuple[list[VideoRecord], LabelMap]:
    """Every sample under the folder, unlabeled; the label map is the one given, or empty."""
    root = request.path
    if not root.is_dir():
        raise DataError(f"{root}: format 'unlabeled' needs a folder of videos")
    samples = find_samples(root, set(), Fence(real_path(root)))
    records = [VideoRecord(s, -1, group=file_group(s)) for s in samples]
    return records, request.labels if request.labels is not None else LabelMap()


def sniff(path: Path) -> bool:
    """True for a folder without class folders (videos and frame folders at its top level)."""
    return path.is_dir() and not has_class_folders(visible_children(path))
