"""Our lines on stdout, and a reader that stops reading (`emb-opt inspect RUN | head -1`).

A closed stdout is the reader's choice, not a failure: the rest of the output is dropped, the
command does its work to the end, and exits with 141 as a command killed by SIGPIPE does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..masking import mask_secrets

CLOSED_EXIT = 141  # 128 + SIGPIPE, what a shell reports for `seq 100000 | head -1`
_closed = False


def say(text: str) -> None:
    """Print `text` (its secrets masked, and flush it); once the reader has closed stdout,
    nothing."""
    global _closed
    if _closed:
        return
    try:
        print(mask_secrets(text), flush=True)
    except BrokenPipeError:
        _closed = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left goes nowhere


def closed() -> bool:
    """Whether the reader closed stdout before all of our lines were written."""
    return _closed


def tidy_path(path: str | os.PathLike[str]) -> Path:
    """`path` as we show and use it: without `..` parts (resolved, following symlinks as the
    system does: `w/../proj/out` is `/home/me/proj/out`); a path without them as given."""
    path = Path(path)
    return path.resolve() if ".." in path.parts else path
