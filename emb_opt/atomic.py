"""Writing files so that a crash never leaves half of one, and a failed write names its file.

Files and directories made here get the mode `open` and `mkdir` would give them (0o666 and
0o777 less the umask), not the owner-only mode of a `tempfile` name: with umask 002 or 022
a teammate in the group can read a shared run directory (with 002: write it too).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def naming(path: str | os.PathLike) -> Iterator[None]:
    """Within, an OSError that names no file (e.g. "[Errno 27] File too large" from a write)
    is raised again naming `path`, with its errno."""
    try:
        yield
    except OSError as error:
        if error.filename is not None or error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


def umask() -> int:
    """This process's umask (from /proc where there is one: setting it to read it, the only
    other way, would give files another thread creates meanwhile no permissions at all)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def created_mode(directory: bool = False) -> int:
    """The mode `open` (or, for a `directory`, `mkdir`) gives what it creates: 0o666 (0o777)
    less the umask."""
    return (0o777 if directory else 0o666) & ~umask()


def temporary_beside(path: Path) -> str:
    """The name of a new empty file beside `path`, with the mode `open` would give it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, created_mode())
    finally:
        os.close(fd)
    return tmp


def temporary_directory(parent: Path, prefix: str) -> Path:
    """A new empty directory in `parent`, with the mode `mkdir` would give it (and the
    set-group-ID bit it inherits from `parent`, which keeps a team's group on its files)."""
    made = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    made.chmod(created_mode(directory=True) | (made.stat().st_mode & stat.S_ISGID))
    return made


def write_atomically(path: str | os.PathLike, text: str, sync: bool = True) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk (unless not `sync`:
    the caller does that later), then rename it over: a reader sees the old file or the new
    one, never part of one."""
    path = Path(path)
    with naming(path):
        tmp = temporary_beside(path)
        try:
            with open(tmp, "w") as handle:
                handle.write(text)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def write_with(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """`write(tmp)` a file beside `path` (a library that writes files itself), then rename it
    over `path`; a failed write leaves no temporary file and names `path`."""
    path = Path(path)
    with naming(path):
        tmp = Path(temporary_beside(path))
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # the library may have removed it
            raise
