"""One writer at a time in a run directory: an OS file lock and a note of who holds it.

`run`, `ask` and `tell` hold `.emb-opt.lock` (an flock: the kernel drops it when its process
dies, so a killed command leaves nothing to clean up) for their whole read-modify-write.
Beside it, `.emb-opt.lock.json` says who holds it (pid, host, command, since when); it is only
a note for the message a waiting command gives up with, never taken for the lock itself.
`status`, `inspect` and `plot` take no lock; `inspect` asks `is_held` whether a run its
manifest calls running has a live process.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..atomic import write_atomically
from ..errors import RunDirectoryBusy

LOCK, HOLDER = ".emb-opt.lock", ".emb-opt.lock.json"
LOCK_FILES = (LOCK, HOLDER)
ASK_TELL_WAIT = 30.0  # seconds an ask or tell waits for the run directory
RUN_WAIT = 2.0  # a run may last hours: a second one gives up almost at once


@contextmanager
def holding(directory: Path, command: str, wait: float) -> Iterator[None]:
    """Hold the write lock of `directory` (created if missing) within, as `command` (what the
    note says it does); wait up to `wait` seconds for it, then raise `RunDirectoryBusy`
    naming the holder."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / LOCK, timeout=wait, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirectoryBusy(
            f"{directory} is in use by {holder(directory)}; gave up after waiting {wait:g} s "
            "(try again once it is done)"
        ) from None
    note = directory / HOLDER
    try:
        write_atomically(note, json.dumps(_me(command)))
        yield
    finally:
        note.unlink(missing_ok=True)  # while still holding the lock
        lock.release()


def is_held(directory: Path) -> bool:
    """Does a live process hold the write lock of `directory`? Probed by taking the lock
    without waiting (and letting it go at once); True when that cannot be told (no right to
    open the lock file), False when there is no lock file."""
    path = directory / LOCK
    if not path.exists():
        return False
    lock = FileLock(path, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except (Timeout, OSError):  # held, or not ours to open
        return True
    lock.release()
    return False


def holder(directory: Path) -> str:
    """Who holds the lock of `directory`, as its note says."""
    try:
        note = json.loads((directory / HOLDER).read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(note["since"]))
        return f"pid {note['pid']} on {note['host']} ({note['command']}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it left no note of who it is)"


def _me(command: str) -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": time.time(),
    }
