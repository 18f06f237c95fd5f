"""emb_opt: find the highest-scoring items in a vector database while scoring only a sliver of it.

The package imports no database library; each adapter imports its backend when used.
"""

import os

# emb_opt makes many small batched kNN calls with Python work in between. OpenMP threads
# (FAISS, numpy's BLAS) that spin between calls take the cores that work needs: the seed
# tutorial search took 4x as long on a busy 2-core machine. Sleep instead, unless the user
# chose otherwise; it takes effect for OpenMP runtimes started after this import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import (
    BackendError,
    CallTimedOut,
    ConfigError,
    EmbOptError,
    FilterError,
    PluginError,
    PluginResponseError,
    SearchAborted,
    UnsupportedFilterError,
)
from .log import SearchLog
from .runner import Runner
from .schemas import Batch, Item, Query
from .stopping import StopRule
from .utils import build_batch_from_embeddings, build_batch_from_items

__version__ = "2.0.0.dev0"

__all__ = [
    "BackendError",
    "Batch",
    "CallTimedOut",
    "ConfigError",
    "EmbOptError",
    "FilterError",
    "Item",
    "PluginError",
    "PluginResponseError",
    "Query",
    "Runner",
    "SearchAborted",
    "SearchLog",
    "StopRule",
    "UnsupportedFilterError",
    "build_batch_from_embeddings",
    "build_batch_from_items",
]
