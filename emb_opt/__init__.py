"""emb_opt: find the highest-scoring items in a vector database while scoring only a sliver of it.

The package imports no database library; each adapter imports its backend when used.
"""

from .errors import (
    BackendError,
    ConfigError,
    EmbOptError,
    FilterError,
    PluginError,
    SearchAborted,
    UnsupportedFilterError,
)
from .log import SearchLog
from .runner import Runner
from .schemas import Batch, Item, Query
from .stopping import StopRule
from .utils import build_batch_from_embeddings

__version__ = "2.0.0.dev0"

__all__ = [
    "BackendError",
    "Batch",
    "ConfigError",
    "EmbOptError",
    "FilterError",
    "Item",
    "PluginError",
    "Query",
    "Runner",
    "SearchAborted",
    "SearchLog",
    "StopRule",
    "UnsupportedFilterError",
    "build_batch_from_embeddings",
]
