"""Dataset formats: one module per layout, each with a reader and a sniffer, in one table.

:func:`~motionfit.data.records.read_records` reads through :data:`FORMATS`, and the config's
``data.format`` accepts exactly its names and ``auto``. ``auto`` takes the first format, in
table order, whose sniffer recognizes the path, so the specific layouts come before the generic
ones that would also read them (a UCF101 split list is a list file too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from motionfit.data.formats import folder, hmdb51, list_file, rawframes, ucf101, unlabeled
from motionfit.data.formats.hmdb51 import split_selector
from motionfit.data.records import LabelMap, ReadRequest, VideoRecord
from motionfit.errors import DataError

AUTO = "auto"
"""The ``data.format`` that guesses the format from the path."""


@dataclass(frozen=True)
class Format:
    """One dataset layout."""

    read: Callable[[ReadRequest], tuple[list[VideoRecord], LabelMap]]
    """The records and label map of a request (DataError naming the file on bad input)."""
    sniff: Callable[[Path], bool]
    """Whether an existing absolute path is in this layout."""
    description: str
    """One line for users."""


FORMATS: dict[str, Format] = {
    "ucf101": Format(ucf101.read, ucf101.sniff, "official UCF101 trainlist0N.txt / testlist0N.txt"),
    "hmdb51": Format(
        hmdb51.read, hmdb51.sniff, "official HMDB51 <class>_test_split<N>.txt files (@train/@test)"
    ),
    "rawframes": Format(
        rawframes.read, rawframes.sniff, "mmaction2 'frame_dir total_frames label' list"
    ),
    "list": Format(
        list_file.read, list_file.sniff, "list or CSV file: 'path label [start end]' or columns"
    ),
    "folder": Format(folder.read, folder.sniff, "class-per-folder tree: root/<class>/<videos>"),
    "unlabeled": Format(unlabeled.read, unlabeled.sniff, "every video under a folder, unlabeled"),
}
"""Every format by name, in the order ``auto`` tries them."""


def format_names() -> tuple[str, ...]:
    """The names ``data.format`` and ``read_records`` accept: ``auto`` and every format."""
    return (AUTO, *FORMATS)


def guess_format(path: Path) -> str:
    """The name of the first format whose sniffer recognizes the existing absolute ``path``."""
    for name, layout in FORMATS.items():
        if layout.sniff(path):
            return name
    if path.is_dir():  # a folder neither "folder" nor "unlabeled" recognizes holds both
        raise DataError(
            f"{path}: holds both video files and class folders; set data.format to 'folder' "
            "or 'unlabeled'"
        )
    raise DataError(f"{path}: cannot guess the dataset format; set data.format")


__all__ = ["AUTO", "FORMATS", "Format", "format_names", "guess_format", "split_selector"]
