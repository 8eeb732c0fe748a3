"""Stopping the way clusters stop jobs.

``timeout``, ``scancel``, ``docker stop`` and Kubernetes send SIGTERM, and a terminal's Ctrl-C
sends SIGINT, to the whole process group: the command and its worker processes alike. The
command's own process catches both and stops at its next safe point (a training step, a video),
after saving what it has; the workers ignore them and end when the command ends (or, if it is
killed outright, with it: see :func:`die_with_parent`). The stopped command then raises
:class:`Interrupted`, which the CLI prints as one line and turns into exit code 128 + the
signal's number (143 for SIGTERM, 130 for SIGINT), the code the signal itself would give.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from motionfit.errors import RunError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Interrupted(RunError):
    """A command stopped by SIGTERM or SIGINT after saving its work; exit code 128 + signal."""

    def __init__(self, message: str, signum: int = signal.SIGTERM) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class StopRequest:
    """Records the first SIGTERM or SIGINT while :meth:`installed` (instead of ending the
    process), for the command to stop at its next safe point."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def pending(self) -> bool:
        """True once a stop signal arrived."""
        return self.signum is not None

    @property
    def name(self) -> str:
        """``SIGTERM`` or ``SIGINT`` (``SIGTERM`` before any signal)."""
        return signal.Signals(self.signum or signal.SIGTERM).name

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember the first stop signal."""
        del frame
        if self.signum is None:
            self.signum = signum

    def interrupted(self, message: str) -> Interrupted:
        """The :class:`Interrupted` error of this stop, ``message`` prefixed with "stopped by
        SIGNAL"."""
        return Interrupted(f"stopped by {self.name} {message}", self.signum or signal.SIGTERM)

    def install(self) -> None:
        """Make this request the handler of SIGTERM and SIGINT (main thread only; elsewhere
        Python cannot set handlers and the signals keep their effect)."""
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                signal.signal(signum, self)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGTERM and SIGINT with this request inside the block; the previous handlers
        come back after it."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        self.install()
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def raise_if_pending(self, message: str) -> None:
        """Raise :meth:`interrupted` when a stop signal arrived."""
        if self.pending:
            raise self.interrupted(message)


def ignore_stop_signals() -> None:
    """For a worker process: leave SIGTERM and SIGINT sent to the process group to the parent
    (which stops the work and then the workers), and end when the parent ends."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    die_with_parent()


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies, even by SIGKILL (Linux; a no-op
    elsewhere, where workers notice a dead parent on their own, more slowly)."""
    if not sys.platform.startswith("linux"):
        return
    # No library wraps prctl(PR_SET_PDEATHSIG) in the standard set; it is one libc call.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid != os.getppid():
        os._exit(1)  # the parent died before the request above: nobody will stop this process
