"""The ``ucf101`` format: an official ``trainlist0N.txt`` or ``testlist0N.txt``.

Train lists hold ``Class/v_Class_gNN_cNN.avi N`` (1-based class ids), test lists only the path
(the class is the folder). Class ids come from ``classInd.txt`` beside the list (or
``labels``); each record's ``group`` is its ``gNN``, so splits keep a group together.
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
    require_file,
)
from motionfit.errors import DataError

_FILE = re.compile(r"^(train|test)list\d*\.txt$", re.IGNORECASE)
_GROUP = re.compile(r"_(g\d+)_c\d+", re.IGNORECASE)
CLASS_INDEX = "classInd.txt"


def read(request: ReadRequest) -> tuple[list[VideoRecord], LabelMap]:
    """The videos of one official UCF101 split list."""
    require_file(request, "ucf101")
    path, label_map = request.path, request.labels
    root = request.root or path.parent
    class_index_file = path.parent / CLASS_INDEX
    class_index = LabelMap.load(class_index_file) if class_index_file.is_file() else None
    if label_map is None:
        if class_index is None:
            raise DataError(f"{path}: {CLASS_INDEX} not found beside it; set data.labels")
        label_map = class_index
    records = []
    for number, line in data_lines(path):
        where = f"{path}:{number}"
        fields = line.split()
        if len(fields) not in (1, 2) or "/" not in fields[0]:
            raise DataError(f"{where}: expected 'Class/v_Class_gNN_cNN.avi [id]'")
        class_name = fields[0].split("/")[0]
        if class_name not in label_map:
            raise DataError(f"{where}: unknown class {class_name!r}")
        if len(fields) == 2 and class_index is not None:
            expected = class_index.id_of(class_name) + 1 if class_name in class_index else None
            if fields[1] != str(expected):
                raise DataError(
                    f"{where}: class id {fields[1]!r} does not match folder {class_name!r} "
                    f"(id {expected} in {class_index_file.name})"
                )
        label = label_map.id_of(class_name)
        group = _GROUP.search(fields[0])
        records.append(
            VideoRecord(absolute(root / fields[0]), label, group=group and group.group(1).lower())
        )
    check_some_exist(records, path, request.root)
    return records, label_map


def sniff(path: Path) -> bool:
    """True for a file named like an official split list (``trainlist01.txt``)."""
    return path.is_file() and _FILE.match(path.name) is not None


def file_group(path: Path) -> str | None:
    """UCF101's group of a file named in its layout, ``v_Class_gNN_cNN.avi`` -> ``gNN``."""
    match = _GROUP.search(path.name) if path.name.startswith("v_") else None
    return match.group(1).lower() if match else None
