"""`python -m die_at N DIRECTORY ARGS...`: `emb-opt ARGS...`, killed (`os._exit`, as SIGKILL
would: nothing is flushed or cleaned up) just before its Nth change to a file in DIRECTORY:
opening one to write, renaming or removing one (Python's audit events see every one). It exits
with KILLED if it got that far, else as the command does."""

from __future__ import annotations

import os
import sys

KILLED = 137
WRITING = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
CHANGES = {"os.rename", "os.replace", "os.remove"}


def main() -> int:
    target, directory, args = int(sys.argv[1]), os.path.realpath(sys.argv[2]), sys.argv[3:]
    seen = 0

    def hook(event: str, details: tuple) -> None:
        nonlocal seen
        if event == "open":
            changes = bool(details[2] & WRITING)
        elif event in CHANGES:
            changes = True
        else:
            return
        path = details[0]
        if not changes or not isinstance(path, (str, bytes, os.PathLike)):
            return
        if os.path.realpath(os.fsdecode(path)).startswith(directory + os.sep):
            seen += 1
            if seen == target:
                os._exit(KILLED)

    sys.addaudithook(hook)
    from emb_opt.cli.main import main as emb_opt

    return emb_opt(args)


if __name__ == "__main__":
    sys.exit(main())
