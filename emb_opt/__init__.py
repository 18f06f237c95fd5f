"""emb_opt: find the highest-scoring items in a vector database while scoring only a sliver of it.

The names a search needs are importable from here; the adapters too
(`emb_opt.FaissDataSource`), loaded on first use, so the package imports no database library.
"""

import importlib
import os
from typing import TYPE_CHECKING, Any

# emb_opt makes many small batched kNN calls with Python work in between. OpenMP threads
# (FAISS, numpy's BLAS) that spin between calls take the cores that work needs: the seed
# tutorial search took 4x as long on a busy 2-core machine. Sleep instead, unless the user
# chose otherwise; it takes effect for OpenMP runtimes started after this import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .asktell import Asked, AskTell
from .errors import (
    BackendError,
    CallTimedOut,
    ConfigError,
    EmbOptError,
    FilterError,
    LogError,
    PluginError,
    PluginResponseError,
    RunDirectoryBusy,
    SearchAborted,
    StateError,
    UnknownIdError,
    UnsupportedFilterError,
)
from .log import SearchLog
from .protocols import (
    Closable,
    DataSource,
    Fetchable,
    Narrowable,
    Partition,
    Partitioned,
    Sampleable,
    Scannable,
    Searchable,
)
from .runner import Runner
from .schemas import Batch, DataSourceResponse, FilterResponse, Item, Query, ScoreResponse
from .stopping import StopRule
from .update import GuidedUpdate, Strategy
from .utils import build_batch_from_embeddings, build_batch_from_items

if TYPE_CHECKING:
    from .adapters.chroma import ChromaDataSource as ChromaDataSource
    from .adapters.faiss import FaissDataSource as FaissDataSource
    from .adapters.huggingface import HuggingFaceDataSource as HuggingFaceDataSource
    from .adapters.lancedb import LanceDataSource as LanceDataSource
    from .adapters.milvus import MilvusDataSource as MilvusDataSource
    from .adapters.numpy import NumpyDataSource as NumpyDataSource
    from .adapters.pgvector import PgvectorDataSource as PgvectorDataSource
    from .adapters.qdrant import QdrantDataSource as QdrantDataSource
    from .adapters.qdrant_edge import QdrantEdgeDataSource as QdrantEdgeDataSource

__version__ = "2.0.0.dev0"

# adapter class -> its module in emb_opt.adapters, imported on first use
_ADAPTERS = {
    "ChromaDataSource": "chroma",
    "FaissDataSource": "faiss",
    "HuggingFaceDataSource": "huggingface",
    "LanceDataSource": "lancedb",
    "MilvusDataSource": "milvus",
    "NumpyDataSource": "numpy",
    "PgvectorDataSource": "pgvector",
    "QdrantDataSource": "qdrant",
    "QdrantEdgeDataSource": "qdrant_edge",
}


def __getattr__(name: str) -> Any:
    """An adapter class, imported from its module when first asked for."""
    module = _ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.adapters.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_ADAPTERS})


__all__ = [
    "AskTell",
    "Asked",
    "BackendError",
    "Batch",
    "CallTimedOut",
    "Closable",
    "ConfigError",
    "DataSource",
    "DataSourceResponse",
    "EmbOptError",
    "Fetchable",
    "FilterError",
    "FilterResponse",
    "GuidedUpdate",
    "Item",
    "LogError",
    "Narrowable",
    "Partition",
    "Partitioned",
    "PluginError",
    "PluginResponseError",
    "Query",
    "RunDirectoryBusy",
    "Runner",
    "Sampleable",
    "Scannable",
    "ScoreResponse",
    "SearchAborted",
    "SearchLog",
    "Searchable",
    "StateError",
    "StopRule",
    "Strategy",
    "UnknownIdError",
    "UnsupportedFilterError",
    "build_batch_from_embeddings",
    "build_batch_from_items",
    *_ADAPTERS,
]
