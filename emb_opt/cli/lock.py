"""One writer at a time in a run directory: an OS file lock and a note of who holds it.

`run`, `ask` and `tell` hold `.emb-opt.lock` (an flock: the kernel drops it when its process
dies, so a killed command leaves nothing to clean up) for their whole read-modify-write.
Beside it, `.emb-opt.lock.json` says who holds it (pid, host, command, since when); it is only
a note for the messages of a waiting command (one line on stderr when it starts waiting, one
when it gives up), never taken for the lock itself. `status`, `inspect` and `plot` take no lock;
`inspect` asks `is_held` whether a run its manifest calls running has a live process.

An ask or tell waits 10 minutes by default: the first guided ask of a round over a collection
of a million items in a database holds the lock for minutes, and a lab's tells queue up behind
it; `--wait` says otherwise.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import created_mode, write_atomically
from ..errors import RunDirectoryBusy

if TYPE_CHECKING:
    from filelock import FileLock

LOCK, HOLDER = ".emb-opt.lock", ".emb-opt.lock.json"
LOCK_FILES = (LOCK, HOLDER)
ASK_TELL_WAIT = 600.0  # seconds an ask or tell waits for the run directory
RUN_WAIT = 2.0  # a run may last hours: a second one gives up almost at once


@contextmanager
def holding(directory: Path, command: str, wait: float) -> Iterator[None]:
    """Hold the write lock of `directory` (created if missing) within, as `command` (what the
    note says it does); wait up to `wait` seconds for it, then raise `RunDirectoryBusy`
    naming the holder; say on stderr whom it waits for."""
    from filelock import FileLock, Timeout  # not at the top: `emb-opt --version` needs none

    directory.mkdir(parents=True, exist_ok=True)
    mode = created_mode() | 0o600  # the umask's, as other files of the directory
    lock = FileLock(directory / LOCK, timeout=wait, thread_local=False, mode=mode)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if wait > 0:
            print(f"emb-opt: {waiting_line(directory, wait)}", file=sys.stderr, flush=True)
        _acquire(lock, directory, wait)
    note = directory / HOLDER
    try:
        write_atomically(note, json.dumps(_me(command)))
        yield
    finally:
        note.unlink(missing_ok=True)  # while still holding the lock
        lock.release()


def _acquire(lock: FileLock, directory: Path, wait: float) -> None:
    from filelock import Timeout

    try:
        lock.acquire()
    except Timeout:
        raise RunDirectoryBusy(
            f"{directory} is in use by {holder(directory)}; gave up after waiting {wait:g} s "
            "(try again once it is done)"
        ) from None


def waiting_line(directory: Path, wait: float) -> str:
    """What a command waiting for the lock of `directory` says, e.g. "waiting for runs/lab,
    held by pid 1234 on host (emb-opt tell, 12 s); giving up after 600 s"."""
    try:
        note = json.loads((directory / HOLDER).read_text())
        held = f"{max(time.time() - note['since'], 0):.0f} s"
        who = f"pid {note['pid']} on {note['host']} ({note['command']}, {held})"
    except (OSError, ValueError, KeyError, TypeError):
        who = "another process (no note of who it is yet)"
    return f"waiting for {directory}, held by {who}; giving up after {wait:g} s (--wait)"


def is_held(directory: Path) -> bool:
    """Does a live process hold the write lock of `directory`? Probed by taking the lock
    without waiting (and letting it go at once); True when that cannot be told (no right to
    open the lock file), False when there is no lock file."""
    path = directory / LOCK
    if not path.exists():
        return False
    from filelock import FileLock, Timeout

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
