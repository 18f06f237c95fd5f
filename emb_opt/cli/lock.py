"""One writer at a time in a run directory: OS locks that no file removal sidesteps, and a note
of who holds them.

`run`, `ask` and `tell` hold two `flock`s for their whole read-modify-write: one on the run
directory itself (its own descriptor: removing files in it cannot replace it, so a "stale
lock" clean-up never lets a second writer in), and one on `.emb-opt.lock` (which an NFS
server shares between hosts, where a directory's flock stays on one host, and which earlier
emb_opt versions take). The kernel drops both when their process dies, so a killed command
leaves nothing to clean up. After taking the file's lock a command checks that the file is
still the one at its path (it takes the lock again if it was removed meanwhile). A
filesystem that gives no such locks (flock failing with ENOLCK, ENOSYS, ...) is named in
a `LockUnavailable` error; one whose locks other hosts do not see (NFS mounted `nolock` or
`local_lock`, CIFS `nobrl`, sshfs) is named in a warning on stderr.

Beside them, `.emb-opt.lock.json` says who holds them (pid, host, command, since when); it
is only a note for the messages of a waiting command (one line on stderr when it starts
waiting, one when it gives up), never taken for the lock itself. `status`, `inspect` and
`plot` take no lock; `inspect` asks `is_held` whether a run its manifest calls running has a
live process.

An ask or tell waits 10 minutes by default: the first guided ask of a round over a collection
of a million items in a database holds the lock for minutes, and a lab's tells queue up behind
it; `--wait` says otherwise (0 or more seconds).
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..atomic import write_atomically
from ..errors import LockUnavailable, RunDirectoryBusy

LOCK, HOLDER = ".emb-opt.lock", ".emb-opt.lock.json"
LOCK_FILES = (LOCK, HOLDER)
ASK_TELL_WAIT = 600.0  # seconds an ask or tell waits for the run directory
RUN_WAIT = 2.0  # a run may last hours: a second one gives up almost at once
POLL = 0.05  # seconds between attempts while waiting
BUSY = (errno.EWOULDBLOCK, errno.EAGAIN)
NOT_SHARED = (  # (filesystem type, mount option) whose locks stay on one host (None: any)
    *[(nfs, option) for nfs in ("nfs", "nfs4") for option in ("nolock", "local_lock=all")],
    ("nfs", "local_lock=flock"),
    ("nfs4", "local_lock=flock"),
    ("cifs", "nobrl"),
    ("smb3", "nobrl"),
    ("fuse.sshfs", None),  # sshfs has no locks of its own: the kernel keeps them local
)


def check_wait(wait: float) -> float:
    """`wait` if it is a number of seconds a command may wait (0 or more); else a ValueError
    naming it."""
    if not (isinstance(wait, (int, float)) and math.isfinite(wait) and wait >= 0):
        raise ValueError(f"--wait must be a number of seconds, 0 or more; got {wait!r}")
    return float(wait)


@contextmanager
def holding(directory: Path, command: str, wait: float) -> Iterator[None]:
    """Hold the write locks of `directory` (created if missing) within, as `command` (what the
    note says it does); wait up to `wait` seconds for them, then raise `RunDirectoryBusy`
    naming the holder; say on stderr whom it waits for."""
    wait = check_wait(wait)
    directory.mkdir(parents=True, exist_ok=True)
    with _Lock(directory) as lock:
        if not lock.take():
            if wait > 0:
                print(f"emb-opt: {waiting_line(directory, wait)}", file=sys.stderr, flush=True)
            deadline = time.monotonic() + wait
            while not lock.take():
                if time.monotonic() >= deadline:
                    raise RunDirectoryBusy(
                        f"{directory} is in use by {holder(directory)}; gave up after waiting "
                        f"{wait:g} s (try again once it is done)"
                    )
                time.sleep(POLL)
        warning = not_shared(directory)
        if warning is not None:
            print(f"emb-opt: {warning}", file=sys.stderr, flush=True)
        note = directory / HOLDER
        write_atomically(note, json.dumps(_me(command)))
        try:
            yield
        finally:
            note.unlink(missing_ok=True)  # while still holding the lock


class _Lock:
    """The two flocks of a run directory: its own descriptor's and `.emb-opt.lock`'s."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.path = directory, directory / LOCK
        self.descriptors: list[int] = []

    def __enter__(self) -> _Lock:
        self.descriptors.append(os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY))
        return self

    def __exit__(self, *exc: object) -> None:
        for descriptor in self.descriptors:  # closing drops its lock
            os.close(descriptor)
        self.descriptors.clear()

    def take(self) -> bool:
        """Take both locks without waiting; False (holding neither) if another process has
        one of them."""
        if not _flock(self.descriptors[0], self.directory):
            return False
        while True:
            file = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask
            if not _flock(file, self.path):
                os.close(file)
                _unlock(self.descriptors[0])
                return False
            if _same_file(file, self.path):
                self.descriptors.append(file)
                return True
            os.close(file)  # it was removed (or replaced) before we locked it: again


def _flock(descriptor: int, path: Path) -> bool:
    """An exclusive flock on `descriptor` (of `path`) without waiting: False if another
    process holds it; a `LockUnavailable` naming `path` if its filesystem gives none."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in BUSY:
            return False
        raise LockUnavailable(
            f"cannot lock {path}: {error.strerror} ([Errno {error.errno}]): its filesystem "
            "gives no locks emb-opt can rely on; put the run directory on a local disk, or "
            "on a network filesystem with locks shared between hosts (NFS with lockd, not "
            "mounted nolock)"
        ) from None
    return True


def _unlock(descriptor: int) -> None:
    fcntl.flock(descriptor, fcntl.LOCK_UN)


def _same_file(descriptor: int, path: Path) -> bool:
    """Is the file open as `descriptor` still the one at `path`?"""
    try:
        return os.path.samestat(os.fstat(descriptor), path.stat())
    except FileNotFoundError:
        return False


def not_shared(directory: Path, mountinfo: str | None = None) -> str | None:
    """The warning for a `directory` on a filesystem whose locks other hosts do not see
    (None: it is not on one), from `/proc/self/mountinfo` (or the text `mountinfo`)."""
    mount = mount_of(directory, mountinfo)
    if mount is None:
        return None
    kind, options = mount
    for local, option in NOT_SHARED:
        if local == kind and (option is None or option in options.split(",")):
            how = f"mounted {option}" if option else "whose locks stay on one host"
            return (
                f"warning: {directory} is on {kind} {how}: its lock is not seen from other "
                "hosts; change this run from one host at a time"
            )
    return None


def mount_of(directory: Path, mountinfo: str | None = None) -> tuple[str, str] | None:
    """(filesystem type, mount and superblock options) of the mount holding `directory`,
    from `/proc/self/mountinfo` (or the text `mountinfo`); None where there is none."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    where = os.path.realpath(directory)
    best: tuple[int, str, str] | None = None
    for line in mountinfo.splitlines():
        mounted, _, rest = line.partition(" - ")
        fields, tail = mounted.split(), rest.split()
        if len(fields) < 6 or len(tail) < 3:
            continue
        point = fields[4].replace("\\040", " ")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), tail[0], f"{fields[5]},{tail[2]}")
    return None if best is None else best[1:]


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
    """Does a live process hold the write lock of `directory`? Probed by taking its locks
    without waiting (and letting them go at once; no file is created); True when that cannot
    be told (no right to open the lock file), False when there is no directory."""
    if not directory.is_dir():
        return False
    paths = [directory, *([directory / LOCK] if (directory / LOCK).exists() else [])]
    try:
        for path in paths:
            descriptor = os.open(path, os.O_RDONLY)
            try:
                if not _flock(descriptor, path):
                    return True
            finally:
                os.close(descriptor)
    except OSError:  # not ours to open (or no locks there)
        return True
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
