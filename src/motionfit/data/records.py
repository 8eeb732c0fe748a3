"""Dataset indexes: which videos, with which labels, read from the usual dataset layouts.

A dataset is a list of :class:`VideoRecord` plus a :class:`LabelMap` (class name <-> id).
:func:`read_records` reads folder-per-class trees, list/CSV files (mmaction2, Kinetics,
Something-Something style), the official UCF101 and HMDB51 split files, mmaction2 "rawframes"
folders and lists, and plain folders of unlabeled videos.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from motionfit.atomic import atomic_write_text
from motionfit.errors import DataError

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
LIST_SUFFIXES = frozenset({".txt", ".csv", ".tsv", ".lst"})
FORMATS = ("auto", "folder", "list", "ucf101", "hmdb51", "rawframes", "unlabeled")
LABELS_FILE = "labels.txt"

# Header names accepted in CSV list files (lower-cased), per column.
_PATH_COLUMNS = ("path", "video", "video_path", "filename", "file", "file_name", "clip")
_ID_COLUMNS = ("video_id", "id", "name")  # Something-Something style: <id>.<ext>
_LABEL_COLUMNS = ("label", "class", "class_name", "category", "action", "label_id", "class_id")
_START_COLUMNS = ("start", "start_time", "start_sec", "t_start", "segment_start")
_END_COLUMNS = ("end", "end_time", "end_sec", "t_end", "segment_end")
_GROUP_COLUMNS = ("group", "group_id", "subject")
_HMDB_SUBSETS = {"train": "1", "test": "2"}
_HMDB_SELECTOR = re.compile(r"^(?P<subset>train|test)(?P<split>[1-3])?$")
_HMDB_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$")
_UCF_FILE = re.compile(r"^(train|test)list\d*\.txt$", re.IGNORECASE)
_UCF_GROUP = re.compile(r"_(g\d+)_c\d+", re.IGNORECASE)


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset.

    ``path`` is absolute: a video file or a folder of frame images. ``label`` is the class id
    (-1 = unlabeled). ``start``/``end`` (seconds) restrict the video to a segment. ``group``
    names videos that must stay on one side of a split (e.g. UCF101's ``g08``).
    """

    path: Path
    label: int
    start: float | None = None
    end: float | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise DataError(f"{self.path}: segment end {self.end} is not after start {self.start}")


@dataclass(frozen=True)
class LabelMap:
    """Ordered class names: id ``i`` is ``names[i]``."""

    names: tuple[str, ...] = ()
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.names)
        object.__setattr__(self, "names", names)
        ids: dict[str, int] = {}
        for index, name in enumerate(names):
            if not name.strip() or name != name.strip():
                raise DataError(f"class name {name!r} is empty or has surrounding spaces")
            if name in ids:
                raise DataError(f"class name {name!r} appears twice in the label map")
            ids[name] = index
        object.__setattr__(self, "_ids", ids)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> LabelMap:
        """A label map with the names in the given order."""
        return cls(tuple(names))

    @classmethod
    def load(cls, path: str | Path) -> LabelMap:
        """Read a label file: one class name per non-empty line, in id order.

        Lines of the form ``<id> <name>`` with consecutive ids from 0 or 1 (UCF101's
        ``classInd.txt``) are also accepted.
        """
        path = Path(path)
        lines = [line.strip() for line in _read_text(path).splitlines()]
        names = [line for line in lines if line]
        if not names:
            raise DataError(f"{path}: label file has no class names")
        numbered = [name.split(maxsplit=1) for name in names]
        if all(len(parts) == 2 and parts[0].isdigit() for parts in numbered):
            ids = [int(parts[0]) for parts in numbered]
            if ids in (list(range(len(ids))), list(range(1, len(ids) + 1))):
                names = [parts[1].strip() for parts in numbered]
        try:
            return cls(tuple(names))
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Write one class name per line (line ``i`` = id ``i``); returns the path."""
        return atomic_write_text(path, "".join(f"{name}\n" for name in self.names))

    def id_of(self, name: str) -> int:
        """The id of a class name (DataError if unknown)."""
        try:
            return self._ids[name]
        except KeyError:
            raise DataError(f"unknown class {name!r} (known: {_preview(self.names)})") from None

    def name_of(self, class_id: int) -> str:
        """The name of a class id (DataError if out of range)."""
        if not 0 <= class_id < len(self.names):
            raise DataError(f"class id {class_id} out of range 0..{len(self.names) - 1}")
        return self.names[class_id]

    def __contains__(self, name: object) -> bool:
        return name in self._ids

    def __len__(self) -> int:
        return len(self.names)


def read_records(
    source: str | Path,
    format: str = "auto",
    video_root: str | Path | None = None,
    labels: str | Path | LabelMap | None = None,
) -> tuple[list[VideoRecord], LabelMap]:
    """Read a dataset index: ``(records, label_map)``.

    Formats (``auto`` guesses from the path):

    - ``folder``: ``root/<class>/<video files or frame folders>`` (searched recursively inside
      each class folder); classes are the sub-folders sorted by name, or the order of a
      ``root/labels.txt`` when there is one.
    - ``list``: one ``path label [start end]`` per line, separated by spaces, tabs or commas
      (paths containing spaces need tabs or commas); ``label`` is a class name or an integer id;
      a line with only a path is unlabeled (-1). Or a CSV whose header names the columns:
      path (``path``, ``video``, ``filename``, ``id``, ...), label (``label``, ``class``, ...),
      optional ``start``/``end`` seconds and ``group``. A path without a video suffix gets the
      first existing one (``<id>.webm``); Kinetics CSVs (``youtube_id``, ``time_start``,
      ``time_end``) name trimmed clips ``<youtube_id>_<start:06d>_<end:06d>.<ext>`` looked up in
      ``<root>/<label>/`` then ``<root>/``. A ``labels.txt`` beside the list fixes the class
      order when ``labels`` is not given. ``#`` starts a comment line.
    - ``ucf101``: an official ``trainlist0N.txt`` (``Class/v_Class_gNN_cNN.avi N``, 1-based ids)
      or ``testlist0N.txt`` (class from the folder); ids from ``classInd.txt`` beside it (or
      ``labels``); ``group`` = ``gNN``.
    - ``hmdb51``: the official ``<class>_test_split<N>.txt`` files (``video.avi 0|1|2``; 1 = train,
      2 = test). ``source`` is their folder or any one of them, optionally followed by
      ``@train``, ``@test``, ``@train2``, ``@test3`` (subset and split number; default
      ``@train1``, or the split number of the named file). All classes of that split are read;
      videos are ``<video_root>/<class>/<video>``. No groups.
    - ``rawframes``: a folder-per-class tree of frame folders (as ``folder``), or an mmaction2
      list ``frame_dir total_frames label``.
    - ``unlabeled``: every video file and frame folder under a folder, recursively; label -1.

    Relative paths in list and split files are relative to ``video_root`` (default: the list
    file's folder). ``labels`` (a file with one name per line, or a :class:`LabelMap`) fixes
    the class order; a label not in it is a DataError naming the file and line.
    """
    if format not in FORMATS:
        raise DataError(f"unknown dataset format {format!r} (one of: {', '.join(FORMATS)})")
    path, selector = _split_selector(str(source))
    if not path.exists():
        raise DataError(f"dataset source not found: {path}")
    path = _absolute(path)
    if format == "auto":
        format = "hmdb51" if selector else _guess_format(path)
    if selector and format != "hmdb51":
        raise DataError(f"{source}: '@{selector}' selects an HMDB51 split; format is {format!r}")
    label_map = _load_labels(labels)
    root = _absolute(Path(video_root)) if video_root is not None else None
    if root is not None and not root.is_dir():
        raise DataError(f"video_root is not a folder: {root}")
    if format == "folder" and not path.is_dir():
        raise DataError(f"{path}: format 'folder' needs a folder of class folders, got a file")
    if format in {"folder", "rawframes"} and path.is_dir():
        records, label_map = _read_folder(path, label_map)
    elif format == "unlabeled":
        records = _read_unlabeled(path)
        label_map = label_map if label_map is not None else LabelMap()
    elif format == "hmdb51":
        records, label_map = _read_hmdb51(path, selector, root, label_map)
        _check_some_exist(records, path, root)
    else:
        if path.is_dir():
            raise DataError(f"{path}: format {format!r} needs a file, got a folder")
        reader = {"list": _read_list, "ucf101": _read_ucf101, "rawframes": _read_rawframes_list}
        records, label_map = reader[format](path, root, label_map)
        _check_some_exist(records, path, root)
    if not records:
        raise DataError(f"{source}: no videos found (format {format!r})")
    return records, label_map


# ---------------------------------------------------------------------------------------------
# format detection


def _split_selector(source: str) -> tuple[Path, str]:
    """``'splits@test2'`` -> (Path('splits'), 'test2'); other sources have no selector."""
    head, sep, tail = source.rpartition("@")
    if sep and _HMDB_SELECTOR.match(tail):
        return Path(head), tail
    return Path(source), ""


def _guess_format(path: Path) -> str:
    if path.is_file():
        if _UCF_FILE.match(path.name):
            return "ucf101"
        if _HMDB_FILE.match(path.name):
            return "hmdb51"
        if path.suffix.lower() in LIST_SUFFIXES:
            return "rawframes" if _looks_like_rawframes_list(path) else "list"
        raise DataError(f"{path}: cannot guess the dataset format; set data.format")
    if any(_HMDB_FILE.match(p.name) for p in path.glob("*_test_split*.txt")):
        return "hmdb51"
    children = _visible_children(path)
    has_videos = any(_is_video(p) for p in children)
    class_dirs = [p for p in children if p.is_dir() and not _is_frame_folder(p)]
    has_classes = any(_contains_samples(p) for p in class_dirs)
    if has_videos and has_classes:
        raise DataError(
            f"{path}: holds both video files and class folders; set data.format to 'folder' "
            "or 'unlabeled'"
        )
    return "folder" if has_classes else "unlabeled"


def _looks_like_rawframes_list(path: Path) -> bool:
    """An mmaction2 rawframes list: ``frame_dir total_frames label`` with integer columns."""
    for _, line in _data_lines(path):
        fields = line.split()
        return len(fields) == 3 and fields[1].isdigit() and _is_int(fields[2])
    return False


# ---------------------------------------------------------------------------------------------
# folders


def _read_folder(root: Path, label_map: LabelMap | None) -> tuple[list[VideoRecord], LabelMap]:
    class_dirs = [p for p in _visible_children(root) if p.is_dir()]
    if not class_dirs:
        raise DataError(f"{root}: no class folders found")
    if label_map is None and (root / LABELS_FILE).is_file():
        label_map = LabelMap.load(root / LABELS_FILE)
    if label_map is None:
        label_map = LabelMap.from_names(p.name for p in class_dirs)
    records = []
    seen: set[Path] = set()  # real paths: a file linked into two folders counts once
    classes = {_real(p) for p in class_dirs}
    for class_dir in class_dirs:
        if class_dir.name not in label_map:
            raise DataError(
                f"{class_dir}: class folder {class_dir.name!r} is not in the label map "
                f"({_preview(label_map.names)})"
            )
        fence = _Fence(_real(root), frozenset(classes - {_real(class_dir)}))
        samples = list(_find_samples(class_dir, seen, fence))
        if not samples:
            warnings.warn(f"class folder {class_dir} holds no videos", stacklevel=3)
        label = label_map.id_of(class_dir.name)
        records.extend(VideoRecord(s, label, group=_file_group(s)) for s in samples)
    return records, label_map


def _read_unlabeled(root: Path) -> list[VideoRecord]:
    if not root.is_dir():
        raise DataError(f"{root}: format 'unlabeled' needs a folder of videos")
    samples = _find_samples(root, set(), _Fence(_real(root)))
    return [VideoRecord(s, -1, group=_file_group(s)) for s in samples]


def _file_group(path: Path) -> str | None:
    """UCF101's group of a file named in its layout, ``v_Class_gNN_cNN.avi`` -> ``gNN``."""
    match = _UCF_GROUP.search(path.name) if path.name.startswith("v_") else None
    return match.group(1).lower() if match else None


@dataclass(frozen=True)
class _Fence:
    """Folders a search never enters through a symbolic link: the dataset root and what holds
    it (a link to ``..``), and the other classes' folders."""

    root: Path
    others: frozenset[Path] = frozenset()

    def keeps_out(self, real: Path) -> bool:
        """True for a real path the search must not enter."""
        return real in self.others or self.root.is_relative_to(real)


def _find_samples(
    folder: Path, seen: set[Path], fence: _Fence | None = None, report: bool = True
) -> Iterator[Path]:
    """Video files and frame folders under ``folder``, recursively, in sorted order.

    Symbolic links are followed, but every real file or folder is taken once (``seen`` holds
    the real paths met so far), so a link back to a parent folder is not a loop, and never
    into what ``fence`` keeps out. A link that loops or points nowhere is left out with a
    warning (``report``)."""
    seen.add(_real(folder))
    for child in _visible_children(folder):
        if child.is_symlink() and not child.exists():
            if report:
                warnings.warn(
                    f"skipping {child}: a symbolic link that loops or points nowhere", stacklevel=4
                )
            continue
        real = _real(child)
        if real in seen or (fence is not None and fence.keeps_out(real)):
            continue
        if _is_video(child) or (child.is_dir() and _is_frame_folder(child)):
            seen.add(real)
            yield child
        elif child.is_dir():
            yield from _find_samples(child, seen, fence, report)


def _contains_samples(folder: Path) -> bool:
    return next(_find_samples(folder, set(), report=False), None) is not None


def _visible_children(folder: Path) -> list[Path]:
    return sorted(p for p in _list_folder(folder) if not p.name.startswith("."))


def _list_folder(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list this folder ({exc.strerror or exc})") from None


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()


def _is_frame_folder(path: Path) -> bool:
    """A folder holding image files directly (mmaction2 rawframes: ``img_00001.jpg`` ...)."""
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in _list_folder(path))


# ---------------------------------------------------------------------------------------------
# list and CSV files


def _read_list(
    path: Path, root: Path | None, label_map: LabelMap | None
) -> tuple[list[VideoRecord], LabelMap]:
    root = root or path.parent
    if label_map is None and (path.parent / LABELS_FILE).is_file() and path.name != LABELS_FILE:
        label_map = LabelMap.load(path.parent / LABELS_FILE)
    lines = list(_data_lines(path))
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
    return _label_entries(path, entries, label_map)


@dataclass(frozen=True)
class _Entry:
    """One parsed list line before its label is mapped to an id."""

    number: int
    path: Path
    label: str | None
    start: float | None = None
    end: float | None = None
    group: str | None = None


def _plain_entry(path: Path, number: int, fields: list[str], root: Path) -> _Entry:
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
    return _Entry(number, _video_path(root, fields[0]), label, start, end)


def _csv_entry(
    path: Path, number: int, fields: list[str], columns: dict[str, int], root: Path
) -> _Entry:
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
    return _Entry(number, video, label, start, end, cell("group"))


def _header_columns(fields: list[str]) -> dict[str, int] | None:
    """Column positions if ``fields`` is a CSV header naming a path (or youtube_id) column."""
    lowered = [f.strip().lower() for f in fields]
    if any(_is_int(f) for f in lowered):
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


def _label_entries(
    path: Path, entries: list[_Entry], label_map: LabelMap | None
) -> tuple[list[VideoRecord], LabelMap]:
    """Map label strings (class names or integer ids) to ids; build the map when not given."""
    labeled = [e for e in entries if e.label is not None]
    if labeled and len(labeled) != len(entries):
        first = next(e for e in entries if e.label is None)
        raise DataError(f"{path}:{first.number}: missing label (other lines have one)")
    if label_map is None:
        tokens = [e.label for e in labeled if e.label is not None]
        if tokens and all(_is_int(t) for t in tokens):
            top = max(int(t) for t in tokens)
            label_map = LabelMap.from_names(str(i) for i in range(top + 1))
        else:
            label_map = LabelMap.from_names(sorted(set(tokens)))
    records = []
    for entry in entries:
        label = -1 if entry.label is None else _label_id(path, entry, label_map)
        records.append(VideoRecord(entry.path, label, entry.start, entry.end, entry.group))
    return records, label_map


def _label_id(path: Path, entry: _Entry, label_map: LabelMap) -> int:
    token = entry.label or ""
    if token in label_map:
        return label_map.id_of(token)
    if _is_int(token) and 0 <= int(token) < len(label_map):
        return int(token)
    raise DataError(
        f"{path}:{entry.number}: unknown label {token!r} (classes: {_preview(label_map.names)})"
    )


def _read_rawframes_list(
    path: Path, root: Path | None, label_map: LabelMap | None
) -> tuple[list[VideoRecord], LabelMap]:
    root = root or path.parent
    if label_map is None and (path.parent / LABELS_FILE).is_file():
        label_map = LabelMap.load(path.parent / LABELS_FILE)
    entries = []
    for number, line in _data_lines(path):
        fields = line.split()
        if len(fields) != 3 or not fields[1].isdigit():
            raise DataError(f"{path}:{number}: expected 'frame_dir total_frames label'")
        entries.append(_Entry(number, _absolute(root / fields[0]), fields[2]))
    return _label_entries(path, entries, label_map)


# ---------------------------------------------------------------------------------------------
# official split files


def _read_ucf101(
    path: Path, root: Path | None, label_map: LabelMap | None
) -> tuple[list[VideoRecord], LabelMap]:
    root = root or path.parent
    class_index_file = path.parent / "classInd.txt"
    class_index = LabelMap.load(class_index_file) if class_index_file.is_file() else None
    if label_map is None:
        if class_index is None:
            raise DataError(f"{path}: classInd.txt not found beside it; set data.labels")
        label_map = class_index
    records = []
    for number, line in _data_lines(path):
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
        group = _UCF_GROUP.search(fields[0])
        records.append(
            VideoRecord(_absolute(root / fields[0]), label, group=group and group.group(1).lower())
        )
    return records, label_map


def _read_hmdb51(
    path: Path, selector: str, root: Path | None, label_map: LabelMap | None
) -> tuple[list[VideoRecord], LabelMap]:
    folder = path if path.is_dir() else path.parent
    named = _HMDB_FILE.match(path.name) if path.is_file() else None
    if path.is_file() and named is None:
        raise DataError(f"{path}: not an HMDB51 split file (<class>_test_split<N>.txt)")
    chosen = _HMDB_SELECTOR.match(selector or "train")
    assert chosen is not None  # selector was validated by _split_selector
    subset = chosen.group("subset")
    split = chosen.group("split") or (named.group("split") if named else "1")
    files = sorted(folder.glob(f"*_test_split{split}.txt"))
    files = [f for f in files if _HMDB_FILE.match(f.name)]
    if not files:
        raise DataError(f"{folder}: no HMDB51 split files '*_test_split{split}.txt'")
    classes = [_HMDB_FILE.match(f.name).group("cls") for f in files]  # type: ignore[union-attr]
    if label_map is None:
        label_map = LabelMap.from_names(classes)
    root = root or folder
    wanted = _HMDB_SUBSETS[subset]
    records = []
    for class_name, split_file in zip(classes, files, strict=True):
        if class_name not in label_map:
            raise DataError(f"{split_file}: class {class_name!r} is not in the label map")
        label = label_map.id_of(class_name)
        for number, line in _data_lines(split_file):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in {"0", "1", "2"}:
                raise DataError(f"{split_file}:{number}: expected 'video.avi 0|1|2'")
            if fields[1] == wanted:
                records.append(VideoRecord(_absolute(root / class_name / fields[0]), label))
    return records, label_map


# ---------------------------------------------------------------------------------------------
# helpers


def _load_labels(labels: str | Path | LabelMap | None) -> LabelMap | None:
    if labels is None or isinstance(labels, LabelMap):
        return labels
    return LabelMap.load(labels)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _data_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) for non-empty, non-comment lines."""
    for number, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


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
    one (Something-Something lists name ``<id>`` for ``<id>.webm``)."""
    path = _absolute(root / name)
    if path.suffix.lower() in VIDEO_SUFFIXES or path.exists():
        return path
    return _with_video_suffix(path) or path


def _with_video_suffix(stem: Path) -> Path | None:
    for suffix in sorted(VIDEO_SUFFIXES):
        candidate = stem.with_name(stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def _check_some_exist(records: Sequence[VideoRecord], source: Path, root: Path | None) -> None:
    """A list whose videos are all missing almost always has the wrong root: say so now
    (single missing files are left to the dataset's bad-file policy)."""
    if records and not any(r.path.exists() for r in records):
        base = root or source.parent
        raise DataError(
            f"{source}: none of its {len(records)} videos exist under {base} "
            f"(e.g. {records[0].path}); set data.video_root"
        )


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


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _preview(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} classes)" if len(names) > limit else "")
