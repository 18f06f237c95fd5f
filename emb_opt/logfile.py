"""A search log on disk: a directory that grows with what the search learned.

The format is described in `log_format`; `log_writer` writes it, `log_reader` reads it back
(and `log_v1` the single-file logs of version 1), `log_vectors` keeps the embeddings. These
functions read into a new `SearchLog`.
"""

from __future__ import annotations

import os
from typing import Any

from . import log_reader
from .log import SearchLog
from .log_format import CHECKPOINTS, FORMAT, LogError
from .log_format import with_checksum as _with_checksum
from .log_vectors import VECTOR_FILES
from .log_writer import LogWriter, save_log

__all__ = [
    "CHECKPOINTS",
    "FORMAT",
    "VECTOR_FILES",
    "LogError",
    "LogWriter",
    "_with_checksum",
    "load_log",
    "open_log",
    "read_checkpoint",
    "save_log",
]


def load_log(path: str | os.PathLike) -> SearchLog:
    """The log in the directory `path` (or a version 1 log file); the files are not changed."""
    return log_reader.load_log(path, SearchLog())


def read_checkpoint(directory: str | os.PathLike) -> tuple[SearchLog, int, dict[str, Any] | None]:
    """The log in `directory`, the sequence number of its last checkpoint and that one's
    annex; the files are not changed."""
    return log_reader.read_checkpoint(directory, SearchLog())


def open_log(directory: str | os.PathLike) -> tuple[SearchLog, LogWriter]:
    """Read the log in `directory` and return it with a writer that appends to it, after
    cutting off a torn last line and any vector rows no line refers to."""
    return log_reader.open_log(directory, SearchLog())
