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

One process at a time writes an output folder: the folder's ``.motionfit.lock`` file carries an
OS lock (``fcntl.flock``) held by the writing process until it ends (or until the
:func:`output_locks` scope that took it closes), so a second process on the same folder is
refused at once with the holder's PID, and a killed holder never blocks anyone (the OS drops
its lock). Only the primary process of a distributed run locks (the other ranks write nothing).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import ParamSpec, TypeVar

from motionfit.atomic import atomic_write_text, is_temp_name, remove_stale_temp_files
from motionfit.errors import OutputError

MARKER_FILE = ".motionfit"
LOCK_FILE = ".motionfit.lock"
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
    lock: bool = True,
) -> bool:
    """Check that ``kind`` may write into ``folder``; return True when the folder already
    holds this kind of output (a re-run or a retry), False when it is new, empty or forced.

    Raises :class:`OutputError` when ``folder`` is a file, lies inside one of ``inputs`` or
    holds one, is being written by another process (``lock``: an existing folder's lock is
    taken here, see :func:`lock_output_dir`), or holds other files and ``force`` is False.
    """
    folder = Path(folder)
    check_not_input(folder, inputs, option)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} {folder} is a file; {option} takes a folder")
    if not folder.is_dir():
        return False
    if lock and (folder / LOCK_FILE).is_file():
        lock_output_dir(folder, option=option)
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


def claim_output_dir(
    folder: str | Path, kind: str, *, option: str = "--out", lock: bool = True
) -> Path:
    """Create ``folder`` (if needed), take its lock (``lock``; see :func:`lock_output_dir`),
    clear stale temporary files of killed writes and write its marker. Call after every check
    of the command, right before its first write."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if lock:
        lock_output_dir(folder, option=option)
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
    """Names in ``folder`` other than the marker, the lock, motionfit's temporary files of
    killed writes and :data:`OS_CLUTTER`."""
    return sorted(
        name
        for name in os.listdir(folder)
        if name not in (MARKER_FILE, LOCK_FILE)
        and name not in OS_CLUTTER
        and not is_temp_name(name)
    )


# ---------------------------------------------------------------------------------------------
# one writer per output folder

_held: dict[str, int] = {}  # real path of a folder this process has locked -> the lock's fd
_fcntl: ModuleType | None
try:  # POSIX; where there is no flock (Windows), folders are not locked
    _fcntl = importlib.import_module("fcntl")
except ImportError:  # pragma: no cover - depends on the OS
    _fcntl = None
_P = ParamSpec("_P")
_R = TypeVar("_R")


def lock_output_dir(folder: str | Path, *, option: str = "--out") -> None:
    """Take the OS lock of the existing folder ``folder`` (its ``.motionfit.lock``, created if
    needed) for this process, and write this process's PID into it; :class:`OutputError`
    naming the holder's PID when another process holds it. Taking a lock this process already
    holds does nothing. Secondary ranks of a distributed run (``RANK`` > 0, or a process the
    launcher started) never lock: their rank 0 does."""
    if _fcntl is None or not _is_primary_process():
        return
    folder = Path(folder)
    key = os.path.realpath(folder)
    path = folder / LOCK_FILE
    held = _held.get(key)
    if held is not None:
        if _same_file(held, path):
            return
        _release(key)  # the folder was removed or replaced since: lock the new one
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(
            f"{option} {folder}: cannot create its lock file ({exc.strerror})"
        ) from exc
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise OutputError(
            f"{option} {folder} is being written by another motionfit process (PID {holder}); "
            "wait for it to end, stop it, or choose another folder"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[key] = fd


def release_output_dir(folder: str | Path) -> None:
    """Drop this process's lock of ``folder`` (if it holds one)."""
    _release(os.path.realpath(folder))


@contextlib.contextmanager
def output_locks() -> Iterator[None]:
    """A scope: the output folder locks taken inside it are released when it closes (those held
    before stay held). Each CLI command runs in one; so does each training run of a sweep."""
    before = set(_held)
    try:
        yield
    finally:
        for key in set(_held) - before:
            _release(key)


def releases_output_locks(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run ``function`` in an :func:`output_locks` scope."""

    @functools.wraps(function)
    def scoped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with output_locks():
            return function(*args, **kwargs)

    return scoped


def _release(key: str) -> None:
    fd = _held.pop(key, None)
    if fd is not None:
        os.close(fd)  # closing the last descriptor drops the flock


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


# what launchers set in each process (torchrun and Lightning's launcher, SLURM's srun, MPI, LSF)
_RANK_VARIABLES = (
    "RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK",
    "JSM_NAMESPACE_RANK",
)  # fmt: skip


def _is_primary_process() -> bool:
    """False in the processes a distributed launcher starts besides global rank 0."""
    return all(os.environ.get(name, "0") == "0" for name in _RANK_VARIABLES)


def _forget_locks_in_child() -> None:
    """A forked child (a DataLoader or pool worker) shares its parent's lock descriptors: close
    its copies, so that the lock ends with the parent, not with its last worker."""
    for fd in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_locks_in_child)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))
