"""What stopped a run that did not finish, in the words the manifest and stderr use.

Interrupts are `BaseException`s that are no `Exception`: Ctrl-C (`KeyboardInterrupt`), SIGTERM
(`Terminated`, while `sigterm_raises` is on), and whatever a plugin raises of that kind
(`SystemExit` and others), which the runner marks with the plugin it came through.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM)."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within, SIGTERM raises `Terminated` (so a run stops as on Ctrl-C) instead of ending the
    process on the spot; only in the main thread, where signal handlers live."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def describe(error: BaseException) -> str:
    """The status of a run `error` stopped, e.g. "interrupted: KeyboardInterrupt" or
    "failed: SystemExit(3) raised by score function 'f'"."""
    if isinstance(error, Terminated):
        return "interrupted: SIGTERM"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted: KeyboardInterrupt"
    if isinstance(error, Exception):
        return f"failed: {type(error).__name__}: {error}"
    from ..calls import raised_by  # not at the top: `emb-opt --version` needs no numpy

    origin = raised_by(error)
    return f"failed: {error!r}" + (f" raised by {origin}" if origin else "")


def exit_code(error: BaseException) -> int:
    """The exit status for an interrupt: 128 + the signal's number, a plugin's `SystemExit`
    code when it is a failure code, else 1."""
    if isinstance(error, Terminated):
        return 128 + signal.SIGTERM
    if isinstance(error, KeyboardInterrupt):
        return 128 + signal.SIGINT
    if isinstance(error, SystemExit) and isinstance(error.code, int) and error.code != 0:
        return error.code
    return 1
