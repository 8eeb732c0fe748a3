"""The ``list`` format: a list or CSV file of videos (mmaction2, Kinetics, Something-Something).

One ``path label [start end]`` per line, separated by spaces, tabs or commas (paths containing
spaces need tabs or commas); ``label`` is a class name or an integer id; a line with only a path
is unlabeled (-1). Or a CSV whose header names the columns: path (``path``, ``video``,
``filename``, ``id``, ...), label (``label``, ``labels``, ``class``, ...), optional
``start``/``end`` seconds and ``group``. A path without a video suffix gets the first existing one
(``<id>.webm``); Kinetics CSVs (``youtube_id``, ``time_start``, ``time_end``) name trimmed clips
``<youtube_id>_<start:06d>_<end:06d>.<ext>`` looked up in ``<root>/<label>/`` then ``<root>/``.
A ``labels.txt`` beside the list fixes the class order when ``labels`` is not given. ``#``
starts a comment line.

Multi-label clips: the label field names several classes separated by ``;`` or ``|`` (never a
comma, which separates fields): ``videos/a.mp4 walk;talk`` in a plain list, ``walk;talk`` in a
CSV's label column. Such a list is multi-label (``data.multi_label`` is inferred); ``labels``
then holds every class of the clip and ``label`` the smallest id.
"""

from __future__ import annotations

import csv
from pathlib import Path

from motionfit.data.records import (
    LIST_SUFFIXES,
    VIDEO_SUFFIXES,
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
    require_file,
)
from motionfit.data.storage import as_path, is_url
from motionfit.errors import DataError

# Header names accepted in CSV list files (lower-cased), per column.
_PATH_COLUMNS = ("path", "video", "video_path", "filename", "file", "file_name", "clip")
_ID_COLUMNS = ("video_id", "id", "name")  # Something-Something style: <id>.<ext>
_LABEL_COLUMNS = (
    "label",
    "labels",
    "class",
    "class_name",
    "category",
    "action",
    "label_id",
    "class_id",
)
_START_COLUMNS = ("start", "start_time", "start_sec", "t_start", "segment_start")
_END_COLUMNS = ("end", "end_time", "end_sec", "t_end", "segment_end")
_GROUP_COLUMNS = ("group", "group_id", "subject")


def read(request: ReadRequest) -> tuple[list[VideoRecord], LabelMap]:
    """The videos of a list or CSV file."""
    require_file(request, "list")
    path = request.path
    root = request.root or path.parent
    label_map = request.labels if request.labels is not None else beside_labels(path)
    lines = list(data_lines(path))
    if not lines:
        raise DataError(f"{path}: list file has no entries")
    delimiter = _delimiter(lines[0][1])
    rows = [(number, _split_fields(line, delimiter)) for number, line in lines]
    columns = _header_columns(rows[0][1])
    if columns is not None:
        rows = rows[1:]
        entries = [_csv_entry(path, number, fields, columns, root) for number, fields in rows]
    else:
        entries = [_plain_entry(path, number, fields, root) for number, fields in rows]
    records, label_map = label_entries(path, entries, label_map)
    check_some_exist(records, path, request.root)
    return records, label_map


def sniff(path: Path) -> bool:
    """True for a file with a list suffix (``.txt``, ``.csv``, ``.tsv``, ``.lst``)."""
    return path.is_file() and path.suffix.lower() in LIST_SUFFIXES


def _plain_entry(path: Path, number: int, fields: list[str], root: Path) -> Entry:
    where = f"{path}:{number}"
    if len(fields) not in (1, 2, 4):
        raise DataError(f"{where}: expected 'path label [start end]', got {len(fields)} fields")
    if any(not f for f in fields):
        raise DataError(f"{where}: empty field")
    start, end = (None, None)
    if len(fields) == 4:
        start, end = _seconds(where, fields[2]), _seconds(where, fields[3])
        _check_segment(where, start, end)
    label = fields[1] if len(fields) > 1 else None
    return Entry(number, _video_path(root, fields[0]), label, start, end)


def _csv_entry(
    path: Path, number: int, fields: list[str], columns: dict[str, int], root: Path
) -> Entry:
    where = f"{path}:{number}"

    def cell(key: str) -> str | None:
        index = columns.get(key)
        if index is None:
            return None
        if index >= len(fields):
            raise DataError(f"{where}: missing column {key!r} ({len(fields)} fields)")
        return fields[index] or None

    label = cell("label")
    if "youtube_id" in columns:
        video = _kinetics_path(
            root, where, cell("youtube_id"), cell("time_start"), cell("time_end"), label
        )
    else:
        name = cell("path")
        if name is None:
            raise DataError(f"{where}: empty path")
        video = _video_path(root, name)
    start = _seconds(where, s) if (s := cell("start")) is not None else None
    end = _seconds(where, e) if (e := cell("end")) is not None else None
    _check_segment(where, start, end)
    return Entry(number, video, label, start, end, cell("group"))


def _header_columns(fields: list[str]) -> dict[str, int] | None:
    """Column positions if ``fields`` is a CSV header naming a path (or youtube_id) column."""
    lowered = [f.strip().lower() for f in fields]
    if any(is_int(f) for f in lowered):
        return None
    columns: dict[str, int] = {}
    for key, names in (
        ("path", _PATH_COLUMNS + _ID_COLUMNS),
        ("label", _LABEL_COLUMNS),
        ("start", _START_COLUMNS),
        ("end", _END_COLUMNS),
        ("group", _GROUP_COLUMNS),
    ):
        for name in names:
            if name in lowered:
                columns[key] = lowered.index(name)
                break
    for name in ("youtube_id", "time_start", "time_end"):
        if name in lowered:
            columns[name] = lowered.index(name)
    if "path" in columns or "youtube_id" in columns:
        return columns
    return None


def _kinetics_path(
    root: Path,
    where: str,
    youtube_id: str | None,
    start: str | None,
    end: str | None,
    label: str | None,
) -> Path:
    if youtube_id is None or start is None or end is None:
        raise DataError(f"{where}: Kinetics rows need youtube_id, time_start and time_end")
    stem = f"{youtube_id}_{int(_seconds(where, start)):06d}_{int(_seconds(where, end)):06d}"
    folders = ([root / label] if label else []) + [root]
    for folder in folders:
        found = _with_video_suffix(folder / stem)
        if found is not None:
            return found
    return folders[0] / f"{stem}.mp4"


def _delimiter(line: str) -> str | None:
    """Tab, comma, or None (runs of spaces), judged from the first data line of a file."""
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    return None


def _split_fields(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]


def _video_path(root: Path, name: str) -> Path:
    """Absolute path of a list entry; a name without a video suffix gets the first existing
    one (Something-Something lists name ``<id>`` for ``<id>.webm``). A URL stays as it is."""
    path = as_path(name) if is_url(name) else absolute(root / name)
    if path.suffix.lower() in VIDEO_SUFFIXES or path.exists():
        return path
    return _with_video_suffix(path) or path


def _with_video_suffix(stem: Path) -> Path | None:
    for suffix in sorted(VIDEO_SUFFIXES):
        candidate = stem.with_name(stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def _seconds(where: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {text!r} is not a number of seconds") from None
    if value < 0 or value != value:
        raise DataError(f"{where}: time {text!r} must be >= 0")
    return value


def _check_segment(where: str, start: float | None, end: float | None) -> None:
    if (start is None) != (end is None):
        raise DataError(f"{where}: a segment needs both start and end")
    if start is not None and end is not None and end <= start:
        raise DataError(f"{where}: segment end {end} is not after start {start}")
