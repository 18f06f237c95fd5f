"""emb_opt: find the highest-scoring items in a vector database while scoring only a sliver of it.

The names a search needs are importable from here, each loaded on first use (the adapters
too, `emb_opt.FaissDataSource`), so the package imports no database library and a command
such as `emb-opt --version` starts without numpy or pydantic.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BackendError,
    CallTimedOut,
    ConfigError,
    EmbOptError,
    FieldError,
    FilterError,
    LockUnavailable,
    LogError,
    PluginError,
    PluginResponseError,
    RunDirectoryBusy,
    SearchAborted,
    StateError,
    UnknownIdError,
    UnsupportedFilterError,
)

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
    from .asktell import Asked as Asked
    from .asktell import AskTell as AskTell
    from .log import SearchLog as SearchLog
    from .protocols import Closable as Closable
    from .protocols import DataSource as DataSource
    from .protocols import Describable as Describable
    from .protocols import Fetchable as Fetchable
    from .protocols import Narrowable as Narrowable
    from .protocols import Partition as Partition
    from .protocols import Partitioned as Partitioned
    from .protocols import Reopenable as Reopenable
    from .protocols import Sampleable as Sampleable
    from .protocols import Scannable as Scannable
    from .protocols import Searchable as Searchable
    from .protocols import StoredField as StoredField
    from .runner import Runner as Runner
    from .schemas import Batch as Batch
    from .schemas import DataSourceResponse as DataSourceResponse
    from .schemas import FilterResponse as FilterResponse
    from .schemas import Item as Item
    from .schemas import Query as Query
    from .schemas import ScoreResponse as ScoreResponse
    from .stopping import StopRule as StopRule
    from .update import GuidedUpdate as GuidedUpdate
    from .update import Strategy as Strategy
    from .utils import build_batch_from_embeddings as build_batch_from_embeddings
    from .utils import build_batch_from_items as build_batch_from_items

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
# any other name -> its module in emb_opt, imported on first use
_PROTOCOLS = "Closable DataSource Fetchable Narrowable Partition Partitioned Sampleable Scannable"
_PROTOCOLS += " Reopenable Searchable Describable StoredField"
_NAMES = {
    **dict.fromkeys(["Asked", "AskTell"], "asktell"),
    "SearchLog": "log",
    **dict.fromkeys(_PROTOCOLS.split(), "protocols"),
    "Runner": "runner",
    **dict.fromkeys(
        ["Batch", "DataSourceResponse", "FilterResponse", "Item", "Query", "ScoreResponse"],
        "schemas",
    ),
    "StopRule": "stopping",
    **dict.fromkeys(["GuidedUpdate", "Strategy"], "update"),
    **dict.fromkeys(["build_batch_from_embeddings", "build_batch_from_items"], "utils"),
    **{name: f"adapters.{module}" for name, module in _ADAPTERS.items()},
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module when first asked for."""
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})


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
    "Describable",
    "EmbOptError",
    "FieldError",
    "Fetchable",
    "Narrowable",
    "FilterError",
    "FilterResponse",
    "GuidedUpdate",
    "Item",
    "LogError",
    "Partition",
    "Partitioned",
    "Reopenable",
    "PluginError",
    "PluginResponseError",
    "Query",
    "RunDirectoryBusy",
    "LockUnavailable",
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
    "StoredField",
    "UnknownIdError",
    "UnsupportedFilterError",
    "build_batch_from_embeddings",
    "build_batch_from_items",
    *_ADAPTERS,
]
