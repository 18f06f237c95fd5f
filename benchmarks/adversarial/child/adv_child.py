"""`python -m adv_child ARGS...`: `emb-opt ARGS...` (whichever emb_opt is first on the path),
with what the environment asks for:

- ADV_DIE_AT=N:DIR: killed (`os._exit(137)`, as SIGKILL: nothing flushed) just before its
  Nth change to a file under DIR (opened to write, renamed or removed; Python's audit events
  see every one);
- ADV_PAUSE_AT=NAME:DIR: paused just before its first change to a file NAME under DIR: it
  says PAUSED on stderr and goes on after a line on stdin;
- ADV_FLOCK_ERRNO=N: every `fcntl.flock` fails with errno N (a filesystem without locks);
- ADV_SLOW_STATES=DIR: a slow reader, waiting half a second before it opens a state file
  (`state-*`) in DIR.

It imports only the standard library and `emb_opt.cli.main`, so it drives any version."""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time

KILLED, PAUSED = 137, "adv_child: paused"
SLOW = 0.5  # seconds a slow reader waits before it opens a state file
WRITING = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
CHANGES = {"os.rename", "os.replace", "os.remove", "os.unlink"}


def changed_path(event: str, details: tuple) -> str | None:
    """The real path of the file an audit event changes, or None."""
    if event == "open":
        if not (isinstance(details[2], int) and details[2] & WRITING):
            return None
    elif event not in CHANGES:
        return None
    path = details[0]
    if not isinstance(path, (str, bytes, os.PathLike)):
        return None
    return os.path.realpath(os.fsdecode(path))


def die_at(spec: str) -> None:
    nth, _, directory = spec.partition(":")
    inside, seen = os.path.realpath(directory) + os.sep, [0]

    def hook(event: str, details: tuple) -> None:
        path = changed_path(event, details)
        if path is not None and path.startswith(inside):
            seen[0] += 1
            if seen[0] == int(nth):
                os._exit(KILLED)

    sys.addaudithook(hook)


def pause_at(spec: str) -> None:
    name, _, directory = spec.partition(":")
    inside, paused = os.path.realpath(directory) + os.sep, [False]

    def hook(event: str, details: tuple) -> None:
        path = None if paused[0] else changed_path(event, details)
        if path is not None and path.startswith(inside) and os.path.basename(path) == name:
            paused[0] = True
            print(PAUSED, file=sys.stderr, flush=True)
            sys.stdin.readline()

    sys.addaudithook(hook)


def slow_states(directory: str) -> None:
    inside = os.path.realpath(directory) + os.sep

    def hook(event: str, details: tuple) -> None:
        if event != "open" or not isinstance(details[0], (str, bytes, os.PathLike)):
            return
        path = os.path.realpath(os.fsdecode(details[0]))
        if path.startswith(inside) and os.path.basename(path).startswith("state-"):
            time.sleep(SLOW)

    sys.addaudithook(hook)


def no_flock(number: int) -> None:
    def flock(descriptor: int, operation: int) -> None:
        raise OSError(number, os.strerror(number))

    fcntl.flock = flock  # type: ignore[assignment]


def main() -> int:
    if "ADV_DIE_AT" in os.environ:
        die_at(os.environ["ADV_DIE_AT"])
    if "ADV_PAUSE_AT" in os.environ:
        pause_at(os.environ["ADV_PAUSE_AT"])
    if "ADV_SLOW_STATES" in os.environ:
        slow_states(os.environ["ADV_SLOW_STATES"])
    if "ADV_FLOCK_ERRNO" in os.environ:
        no_flock(int(os.environ["ADV_FLOCK_ERRNO"]) or errno.ENOLCK)
    from emb_opt.cli.main import main as emb_opt

    return emb_opt(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
