"""The search log: what a search did, in memory (`SearchLog`) and on disk (a log directory).

This package is the one way in: `save_log(log, path)` writes a whole log, `load_log(path)`
reads one back, `open_log(directory)` reads one to append checkpoints to it with the
`LogWriter` it returns, and `read_checkpoint(directory)` reads one with its last checkpoint's
number and annex. The modules behind it are private and import upwards only:

    _model      SearchLog, its query tree and records (imports none of the others)
    _format     the checkpoint lines: their fields and checksum (`_format`'s docstring
                describes the directory)
    _vectors    the vector files
    _v1         version 1 logs (one `log.json` file), read only
    _writer     LogWriter, save_log
    _reader     load_log, read_checkpoint, open_log
"""

from ._format import CHECKPOINTS
from ._model import (
    GIVEN_UP,
    KNOWN,
    KNOWN_ITERATION,
    NOT_CHOSEN,
    SEARCHED,
    UNSCORED,
    BatchRecord,
    Counters,
    QueryNode,
    QueryTree,
    SearchLog,
    item_key,
)
from ._reader import load_log, open_log, read_checkpoint
from ._writer import LogWriter, save_log

__all__ = [
    "CHECKPOINTS",
    "GIVEN_UP",
    "KNOWN",
    "KNOWN_ITERATION",
    "NOT_CHOSEN",
    "SEARCHED",
    "UNSCORED",
    "BatchRecord",
    "Counters",
    "LogWriter",
    "QueryNode",
    "QueryTree",
    "SearchLog",
    "item_key",
    "load_log",
    "open_log",
    "read_checkpoint",
    "save_log",
]
