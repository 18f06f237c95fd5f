"""The server of a PostgreSQL data directory as any process sees it: what `postmaster.pid`
says (pid, port), whether that pid is a live postgres working in the directory, and how to
end it by its pid (it need not be this process's child).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PID_FILE = "postmaster.pid"
# fast shutdown (ends the sessions), then immediate, then SIGKILL; seconds each may take
SHUTDOWN = ((signal.SIGINT, 15.0), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0))


@dataclass(frozen=True)
class Postmaster:
    """The server `postmaster.pid` names: its pid and port (None: not written yet)."""

    pid: int
    port: int | None


def read_postmaster(data_dir: Path) -> Postmaster | None:
    """The server `data_dir/postmaster.pid` names (None: there is no such file)."""
    try:
        lines = (data_dir / PID_FILE).read_text().splitlines()
    except FileNotFoundError:
        return None
    fields = [line.strip() for line in lines]
    pid = int(fields[0]) if fields and fields[0].isdigit() else 0
    port = int(fields[3]) if len(fields) > 3 and fields[3].isdigit() else None
    return Postmaster(pid, port)


def alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie is not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc: kill said it is there
        return True
    return state not in ("Z", "X")


def serves(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a live postgres working in `data_dir` (a postmaster works in its data
    directory). Where the system does not say (no /proc, another user's process), a live
    process is taken for it: PostgreSQL itself refuses to start beside a live one."""
    if not alive(pid):
        return False
    try:
        program = Path(os.fsdecode(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]))
    except OSError:
        return True
    if program.name != "postgres":
        return False  # the pid of a server long gone, now another program's
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == data_dir.resolve()
    except OSError:
        return True


def shut_down(pid: int, child: subprocess.Popen[bytes] | None = None) -> bool:
    """End the postmaster `pid` (`child`: it is this process's, so reap it): SIGINT, then
    SIGQUIT, then SIGKILL. False if it is not ours to signal (another user's)."""
    for sig, wait in SHUTDOWN:
        if _ended(pid, child):
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        deadline = time.monotonic() + wait
        while not _ended(pid, child) and time.monotonic() < deadline:
            time.sleep(0.05)
    return _ended(pid, child)


def _ended(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    if child is not None and child.pid == pid:
        return child.poll() is not None
    return not alive(pid)
