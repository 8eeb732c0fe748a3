"""The output guard every writing command goes through.

Rules: a command writes only inside its own output; it never writes over a file it did not
create unless ``--force`` is given, and never over its own input, even with ``--force``.

A folder motionfit writes into gets a marker file, ``.motionfit``, naming the kind of output
(``train``, ``pretrain``, ``split``, ``evaluate``, ``sweep``, ``ablate``). An existing output
folder is accepted when it is empty or carries the marker of the same kind; any other content
is an :class:`~motionfit.errors.OutputError` unless ``force``. Files an operating system drops
into any folder it shows (``.DS_Store``, ``Thumbs.db``, ... see :data:`OS_CLUTTER`) do not
count: a folder holding only those is empty (they are kept, never deleted). Checks write nothing;
:func:`claim_output_dir` writes the marker once every check of the command has passed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from motionfit.atomic import atomic_write_text, remove_stale_temp_files
from motionfit.errors import OutputError

MARKER_FILE = ".motionfit"
_SHOWN = 3  # foreign entries named in an error
# Files a file browser writes into a folder it merely opened (macOS Finder, Windows Explorer,
# KDE Dolphin): an output folder holding only these still counts as empty.
OS_CLUTTER = frozenset(
    {
        ".DS_Store",
        "._.DS_Store",
        ".localized",
        "Thumbs.db",
        "ehthumbs.db",
        "desktop.ini",
        "Desktop.ini",
        ".directory",
    }
)


def output_kind(folder: Path) -> str | None:
    """The kind in ``folder``'s marker, or None (no marker, or an unreadable one)."""
    try:
        return str(json.loads((folder / MARKER_FILE).read_text())["kind"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_output_dir(
    folder: str | Path,
    kind: str,
    *,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    option: str = "--out",
) -> bool:
    """Check that ``kind`` may write into ``folder``; return True when the folder already
    holds this kind of output (a re-run or a retry), False when it is new, empty or forced.

    Raises :class:`OutputError` when ``folder`` is a file, lies inside one of ``inputs`` or
    holds one, or holds other files and ``force`` is False.
    """
    folder = Path(folder)
    check_not_input(folder, inputs, option)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} {folder} is a file; {option} takes a folder")
    if not folder.is_dir():
        return False
    if output_kind(folder) == kind:
        return True
    foreign = _foreign_entries(folder)
    if foreign and not force:
        marked = output_kind(folder)
        what = f"a motionfit {marked} output" if marked else "files motionfit did not write"
        shown = ", ".join(foreign[:_SHOWN]) + (", ..." if len(foreign) > _SHOWN else "")
        raise OutputError(
            f"{option} {folder} holds {what} ({shown}); choose a new or empty folder, "
            "or pass --force to write there anyway"
        )
    return False


def check_output_file(
    path: str | Path,
    *,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    option: str = "--out",
) -> None:
    """Check that a command may write the file ``path``: not a folder, not an input, and not
    an existing file unless ``force``."""
    path = Path(path)
    check_not_input(path, inputs, option)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; {option} takes a file name")
    if path.exists() and not force:
        raise OutputError(f"{option} {path} exists; choose another name or pass --force")


def claim_output_dir(folder: str | Path, kind: str) -> Path:
    """Create ``folder`` (if needed), clear stale temporary files of killed writes and write
    its marker. Call after every check of the command, right before its first write."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(folder)
    if output_kind(folder) != kind:
        atomic_write_text(folder / MARKER_FILE, json.dumps({"kind": kind}) + "\n")
    return folder


def check_not_input(
    target: str | Path, inputs: Iterable[str | Path | None], option: str = "--out"
) -> None:
    """:class:`OutputError` when ``target`` is one of ``inputs``, lies inside an input folder,
    or holds an input (writing there could change what the command reads)."""
    where = _real(Path(target))
    for source in inputs:
        if source is None:
            continue
        path = Path(str(source))
        if not path.exists():  # HMDB51 'folder@train1'
            path = Path(str(source).rpartition("@")[0] or str(source))
        if not path.exists():
            continue
        real = _real(path)
        if where == real or (real.is_dir() and where.is_relative_to(real)):
            raise OutputError(f"{option} {target} is inside the input {source}; write elsewhere")
        if real.is_relative_to(where):
            raise OutputError(f"{option} {target} holds the input {source}; write elsewhere")


def _foreign_entries(folder: Path) -> list[str]:
    """Names in ``folder`` other than the marker, temporary files of killed writes and
    :data:`OS_CLUTTER`."""
    return sorted(
        name
        for name in os.listdir(folder)
        if name != MARKER_FILE
        and name not in OS_CLUTTER
        and not (name.startswith(".") and name.endswith(".tmp"))
    )


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))
