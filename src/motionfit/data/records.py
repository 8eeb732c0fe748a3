"""Dataset indexes: which videos, with which labels, read from the usual dataset layouts.

A dataset is a list of :class:`VideoRecord` plus a :class:`LabelMap` (class name <-> id).
:func:`read_records` reads it with one of the formats of :mod:`motionfit.data.formats`
(folder-per-class trees, list/CSV files, the official UCF101 and HMDB51 split files, mmaction2
"rawframes" lists, plain folders of unlabeled videos). This module holds what the formats
share: the record and label types, the search for samples under a folder (symbolic links,
hidden files, unreadable folders), list-line reading, label mapping and the check that a list's
videos exist.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from motionfit.atomic import atomic_write_text
from motionfit.data.storage import as_path, is_url
from motionfit.errors import DataError

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
LIST_SUFFIXES = frozenset({".txt", ".csv", ".tsv", ".lst"})
LABELS_FILE = "labels.txt"


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset.

    ``path`` is absolute: a video file or a folder of frame images, on disk or in object
    storage (a :mod:`~motionfit.data.storage` URL path). ``label`` is the class id
    (-1 = unlabeled). ``start``/``end`` (seconds) restrict the video to a segment. ``group``
    names videos that must stay on one side of a split (e.g. UCF101's ``g08``). A multi-label
    clip keeps its first class in ``label`` and the others, ascending, in ``more_labels``
    (``labels`` has them all); a single-label record has no ``more_labels``.
    """

    path: Path
    label: int
    start: float | None = None
    end: float | None = None
    group: str | None = None
    more_labels: tuple[int, ...] = ()

    @property
    def labels(self) -> tuple[int, ...]:
        """Every class id of the clip (empty when unlabeled)."""
        return (self.label, *self.more_labels) if self.label >= 0 else ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", as_path(self.path))
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
        path = as_path(path)
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
            raise DataError(f"unknown class {name!r} (known: {preview(self.names)})") from None

    def name_of(self, class_id: int) -> str:
        """The name of a class id (DataError if out of range)."""
        if not 0 <= class_id < len(self.names):
            raise DataError(f"class id {class_id} out of range 0..{len(self.names) - 1}")
        return self.names[class_id]

    def __contains__(self, name: object) -> bool:
        return name in self._ids

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class ReadRequest:
    """What :func:`read_records` asks a format's reader to read."""

    path: Path
    """The index: a file or folder that exists, as an absolute path."""
    root: Path | None
    """``video_root`` (an existing folder, absolute), or ``None``: beside the index."""
    labels: LabelMap | None
    """The class order to use, or ``None``: the format's own (from the data)."""
    selector: str = ""
    """An HMDB51 subset and split (``test2``) from a ``source@selector``; ``""`` if none."""


def read_records(
    source: str | Path,
    format: str = "auto",
    video_root: str | Path | None = None,
    labels: str | Path | LabelMap | None = None,
) -> tuple[list[VideoRecord], LabelMap]:
    """Read a dataset index: ``(records, label_map)``. Any path (``source``, ``video_root``,
    the list's entries) may be an object-storage URL (:mod:`motionfit.data.storage`).

    ``format`` is a name of :data:`motionfit.data.formats.FORMATS` (``ucf101``, ``hmdb51``,
    ``rawframes``, ``list``, ``folder``, ``unlabeled``; each module's docstring describes its
    layout) or ``auto``, which guesses from the path. An HMDB51 ``source`` may end in a split
    selector: ``@train``, ``@test``, ``@train2``, ``@test3``.

    Relative paths in list and split files are relative to ``video_root`` (default: the list
    file's folder). ``labels`` (a file with one name per line, or a :class:`LabelMap`) fixes
    the class order; a label not in it is a DataError naming the file and line.
    """
    from motionfit.data.formats import (  # here: the formats import this module
        AUTO,
        FORMATS,
        format_names,
        guess_format,
        split_selector,
    )

    if format not in format_names():
        raise DataError(
            f"config key 'data.format' (--format): unknown dataset format {format!r} (one of: "
            f"{', '.join(format_names())})"
        )
    path, selector = split_selector(str(source))
    if not path.exists():
        raise DataError(f"dataset source not found: {path}")
    path = absolute(path)
    if format == AUTO:
        format = "hmdb51" if selector else guess_format(path)
    if selector and format != "hmdb51":
        raise DataError(f"{source}: '@{selector}' selects an HMDB51 split; format is {format!r}")
    label_map = _load_labels(labels)
    root = absolute(as_path(video_root)) if video_root is not None else None
    if root is not None and not root.is_dir():
        raise DataError(f"video_root is not a folder: {root}")
    records, label_map = FORMATS[format].read(ReadRequest(path, root, label_map, selector))
    if not records:
        raise DataError(f"{source}: no videos found (format {format!r})")
    return records, label_map


# ---------------------------------------------------------------------------------------------
# samples under a folder


@dataclass(frozen=True)
class Fence:
    """Folders a search never enters through a symbolic link: the dataset root and what holds
    it (a link to ``..``), and the other classes' folders."""

    root: Path
    others: frozenset[Path] = frozenset()

    def keeps_out(self, real: Path) -> bool:
        """True for a real path the search must not enter."""
        return real in self.others or self.root.is_relative_to(real)


def find_samples(
    folder: Path, seen: set[Path], fence: Fence | None = None, report: bool = True
) -> Iterator[Path]:
    """Video files and frame folders under ``folder``, recursively, in sorted order.

    Symbolic links are followed, but every real file or folder is taken once (``seen`` holds
    the real paths met so far), so a link back to a parent folder is not a loop, and never
    into what ``fence`` keeps out. A link that loops or points nowhere is left out with a
    warning (``report``)."""
    seen.add(real_path(folder))
    for child in visible_children(folder):
        if child.is_symlink() and not child.exists():
            if report:
                warnings.warn(
                    f"skipping {child}: a symbolic link that loops or points nowhere", stacklevel=4
                )
            continue
        real = real_path(child)
        if real in seen or (fence is not None and fence.keeps_out(real)):
            continue
        if is_video(child) or (child.is_dir() and is_frame_folder(child)):
            seen.add(real)
            yield child
        elif child.is_dir():
            yield from find_samples(child, seen, fence, report)


def contains_samples(folder: Path) -> bool:
    """True if a video file or frame folder is somewhere under ``folder`` (silently)."""
    return next(find_samples(folder, set(), report=False), None) is not None


def visible_children(folder: Path) -> list[Path]:
    """The entries of ``folder`` not starting with ``.``, sorted; DataError if unreadable."""
    return sorted(p for p in _list_folder(folder) if not p.name.startswith("."))


def is_video(path: Path) -> bool:
    """True for an existing file with a video suffix (any case)."""
    return path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()


def is_frame_folder(path: Path) -> bool:
    """A folder holding image files directly (mmaction2 rawframes: ``img_00001.jpg`` ...)."""
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in _list_folder(path))


def _list_folder(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list this folder ({exc.strerror or exc})") from None


# ---------------------------------------------------------------------------------------------
# list files and labels


def data_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) for non-empty, non-comment lines."""
    for number, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def require_file(request: ReadRequest, format: str) -> None:
    """DataError unless the index of ``request`` is a file (the ``format`` reads only files)."""
    if request.path.is_dir():
        raise DataError(f"{request.path}: format {format!r} needs a file, got a folder")


def beside_labels(path: Path) -> LabelMap | None:
    """The class order of the ``labels.txt`` beside the list file ``path``, if there is one
    (and ``path`` is not that file)."""
    labels = path.parent / LABELS_FILE
    if labels.is_file() and path.name != LABELS_FILE:
        return LabelMap.load(labels)
    return None


LABEL_SEPARATORS = (";", "|")  # between the labels of a multi-label clip in a list's label field


def split_labels(token: str) -> list[str]:
    """The labels of a list's label field: ``a;b`` or ``a|b`` name several (one separator
    per field), anything else one."""
    for separator in LABEL_SEPARATORS:
        if separator in token:
            return [part.strip() for part in token.split(separator)]
    return [token]


@dataclass(frozen=True)
class Entry:
    """One parsed list line before its label is mapped to an id."""

    number: int
    path: Path
    label: str | None
    start: float | None = None
    end: float | None = None
    group: str | None = None


def label_entries(
    path: Path, entries: list[Entry], label_map: LabelMap | None
) -> tuple[list[VideoRecord], LabelMap]:
    """Map label strings (class names or integer ids; several per field for a multi-label
    clip, see :func:`split_labels`) to ids; build the map when not given."""
    labeled = [e for e in entries if e.label is not None]
    if labeled and len(labeled) != len(entries):
        first = next(e for e in entries if e.label is None)
        raise DataError(f"{path}:{first.number}: missing label (other lines have one)")
    if label_map is None:
        tokens = [t for e in labeled for t in split_labels(e.label or "")]
        if tokens and all(is_int(t) for t in tokens):
            top = max(int(t) for t in tokens)
            label_map = LabelMap.from_names(str(i) for i in range(top + 1))
        else:
            label_map = LabelMap.from_names(sorted(set(tokens)))
    records = []
    for entry in entries:
        ids = [] if entry.label is None else _label_ids(path, entry, label_map)
        label, more = (ids[0], tuple(ids[1:])) if ids else (-1, ())
        records.append(VideoRecord(entry.path, label, entry.start, entry.end, entry.group, more))
    return records, label_map


def _label_ids(path: Path, entry: Entry, label_map: LabelMap) -> list[int]:
    """The ascending, distinct class ids of an entry's label field."""
    return sorted(
        {_label_id(path, entry.number, t, label_map) for t in split_labels(entry.label or "")}
    )


def _label_id(path: Path, number: int, token: str, label_map: LabelMap) -> int:
    if token in label_map:
        return label_map.id_of(token)
    if is_int(token) and 0 <= int(token) < len(label_map):
        return int(token)
    raise DataError(
        f"{path}:{number}: unknown label {token!r} (classes: {preview(label_map.names)})"
    )


def check_some_exist(records: Sequence[VideoRecord], source: Path, root: Path | None) -> None:
    """A list whose videos are all missing almost always has the wrong root: say so now
    (single missing files are left to the dataset's bad-file policy)."""
    if records and not any(r.path.exists() for r in records):
        base = root or source.parent
        raise DataError(
            f"{source}: none of its {len(records)} videos exist under {base} "
            f"(e.g. {records[0].path}); set data.video_root"
        )


# ---------------------------------------------------------------------------------------------
# helpers


def is_int(text: str) -> bool:
    """True for an optionally negative decimal integer."""
    return re.fullmatch(r"-?\d+", text) is not None


def absolute(path: Path) -> Path:
    """``path`` made absolute without resolving symbolic links (a URL is already absolute)."""
    return path if is_url(path) else Path(os.path.abspath(path))


def real_path(path: Path) -> Path:
    """``path`` with every symbolic link resolved (object storage has none)."""
    return path if is_url(path) else Path(os.path.realpath(path))


def preview(names: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` names, comma-separated, with the count when there are more."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} classes)" if len(names) > limit else "")


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
