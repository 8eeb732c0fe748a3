"""Typed errors for user mistakes.

Library code raises these; only the CLI turns them into a one-line message and an exit code
(2 unless the error class says otherwise).
Anything else that escapes is a bug and keeps its traceback.
"""


class MotionfitError(Exception):
    """A user-facing error: bad input, bad configuration, a missing or unreadable file."""

    exit_code = 2


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
