"""`python -m pause_at NAME[:N] DIRECTORY ARGS...`: `emb-opt ARGS...`, paused just before its
Nth (default: first) change to a file called NAME in DIRECTORY (see `die_at`): it says PAUSED
on stderr, then waits for a line on stdin before it goes on."""

from __future__ import annotations

import os
import sys

from die_at import CHANGES, WRITING

PAUSED = "pause_at: paused"


def main() -> int:
    name, _, nth = sys.argv[1].partition(":")
    directory, args = os.path.realpath(sys.argv[2]), sys.argv[3:]
    seen, paused = 0, False

    def hook(event: str, details: tuple) -> None:
        nonlocal seen, paused
        if paused or not (event in CHANGES or (event == "open" and details[2] & WRITING)):
            return
        path = details[0]
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        path = os.path.realpath(os.fsdecode(path))
        if path.startswith(directory + os.sep) and os.path.basename(path) == name:
            seen += 1
            if seen == int(nth or 1):
                paused = True
                print(PAUSED, file=sys.stderr, flush=True)
                sys.stdin.readline()

    sys.addaudithook(hook)
    from emb_opt.cli.main import main as emb_opt

    return emb_opt(args)


if __name__ == "__main__":
    sys.exit(main())
