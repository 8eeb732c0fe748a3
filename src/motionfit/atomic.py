"""Atomic file writes: a kill leaves the old file or the new one, never a partial one.

A write goes through ``.NAME.motionfit-<pid>.tmp`` beside its target; a process killed
mid-write leaves that file behind, and :func:`remove_stale_temp_files` clears it on the next
start. The ``motionfit-`` marker keeps a user's own ``.NAME.<digits>.tmp`` files out of reach.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TEMP_MARKER = "motionfit-"
_TEMP_NAME = re.compile(rf"^\.(?P<name>.+)\.{TEMP_MARKER}(?P<pid>\d+)\.tmp$")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` through a temporary file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def temp_path(path: str | Path) -> Path:
    """The temporary file this process writes ``path`` through: ``.NAME.motionfit-<pid>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{TEMP_MARKER}{os.getpid()}.tmp")


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file motionfit writes (see :func:`temp_path`)."""
    return _TEMP_NAME.match(name) is not None


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete motionfit's ``.NAME.motionfit-<pid>.tmp`` files under ``folder`` (recursively)
    whose writer is no longer running; returns them. Other files (a user's ``.notes.12.tmp``)
    are kept; symlinks are neither followed nor removed."""
    removed: list[Path] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            match = _TEMP_NAME.match(name)
            path = Path(dirpath) / name
            if match is None or path.is_symlink() or _is_running(int(match["pid"])):
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _is_running(pid: int) -> bool:
    """True if a process ``pid`` exists (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OverflowError:
        return False
    return True
