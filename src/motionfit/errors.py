"""Typed errors for user mistakes.

Library code raises these; only the CLI turns them into a one-line message and an exit code
(2 unless the error class says otherwise).
Anything else that escapes is a bug and keeps its traceback.

An error raised in a DataLoader worker process reaches the main process re-created by torch
with the worker's whole traceback as its message; :class:`MotionfitError` keeps only the
original message then, so the user still reads one line.
"""

import re

_WORKER_TRACEBACK = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal ")


class MotionfitError(Exception):
    """A user-facing error: bad input, bad configuration, a missing or unreadable file."""

    exit_code = 2

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str) and _WORKER_TRACEBACK.match(args[0]):
            args = (worker_message(args[0], type(self)), *args[1:])
        super().__init__(*args)


def worker_message(text: str, error_type: type[BaseException]) -> str:
    """The original message of ``error_type`` inside torch's DataLoader worker text (the last
    ``module.Class: message`` line of its traceback and what follows), or ``text`` itself."""
    name = error_type.__qualname__
    module = error_type.__module__
    heads = [f"\n{module}.{name}: "] if module not in ("builtins", "__main__") else []
    heads.append(f"\n{name}: ")
    for head in heads:
        position = text.rfind(head)
        if position >= 0:
            return text[position + len(head) :].strip()
    return text


class ConfigError(MotionfitError):
    """An invalid configuration: unknown key, bad value, unreadable recipe."""


class DataError(MotionfitError):
    """A dataset description or a video that cannot be used."""


class VideoDecodeError(DataError):
    """One video file that cannot be opened or decoded (missing, empty, truncated, no video)."""


class ModelError(MotionfitError):
    """An unknown model name, incompatible weights, or weights that cannot be found offline."""


class RunError(MotionfitError):
    """A run directory that is missing, incomplete, or cannot be resumed."""


class OutputError(RunError):
    """An output path that would overwrite files motionfit did not write, or its own input."""


def without_path(message: str, path: object) -> str:
    """``message`` (one line) without a leading ``PATH: `` naming ``path``: a line that names
    the path itself then names it once."""
    text = " ".join(str(message).split())
    return text.removeprefix(f"{path}: ")
