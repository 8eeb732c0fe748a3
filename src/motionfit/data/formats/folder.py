"""The ``folder`` format: ``root/<class>/<video files or frame folders>``.

Each class folder is searched recursively. Classes are the sub-folders sorted by name, or the
order of a ``root/labels.txt`` when there is one. A file named in UCF101's layout
(``v_Class_gNN_cNN.avi``) gets its group ``gNN``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from motionfit.data.formats.ucf101 import file_group
from motionfit.data.records import (
    LABELS_FILE,
    Fence,
    LabelMap,
    ReadRequest,
    VideoRecord,
    contains_samples,
    find_samples,
    is_frame_folder,
    is_video,
    preview,
    real_path,
    visible_children,
)
from motionfit.errors import DataError


def read(request: ReadRequest) -> tuple[list[VideoRecord], LabelMap]:
    """The videos of a class-per-folder tree, labeled by their class folder."""
    root, label_map = request.path, request.labels
    if not root.is_dir():
        raise DataError(f"{root}: format 'folder' needs a folder of class folders, got a file")
    class_dirs = [p for p in visible_children(root) if p.is_dir()]
    if not class_dirs:
        raise DataError(f"{root}: no class folders found")
    if label_map is None and (root / LABELS_FILE).is_file():
        label_map = LabelMap.load(root / LABELS_FILE)
    if label_map is None:
        label_map = LabelMap.from_names(p.name for p in class_dirs)
    records: list[VideoRecord] = []
    seen: set[Path] = set()  # real paths: a file linked into two folders counts once
    classes = {real_path(p) for p in class_dirs}
    for class_dir in class_dirs:
        if class_dir.name not in label_map:
            raise DataError(
                f"{class_dir}: class folder {class_dir.name!r} is not in the label map "
                f"({preview(label_map.names)})"
            )
        fence = Fence(real_path(root), frozenset(classes - {real_path(class_dir)}))
        samples = list(find_samples(class_dir, seen, fence))
        if not samples:
            warnings.warn(f"class folder {class_dir} holds no videos", stacklevel=3)
        label = label_map.id_of(class_dir.name)
        records.extend(VideoRecord(s, label, group=file_group(s)) for s in samples)
    return records, label_map


def sniff(path: Path) -> bool:
    """True for a folder whose sub-folders hold videos and that holds no video file itself."""
    if not path.is_dir():
        return False
    children = visible_children(path)
    return not any(is_video(p) for p in children) and has_class_folders(children)


def has_class_folders(children: list[Path]) -> bool:
    """True if one of the folders among ``children`` (not a frame folder) holds samples."""
    return any(contains_samples(p) for p in children if p.is_dir() and not is_frame_folder(p))
