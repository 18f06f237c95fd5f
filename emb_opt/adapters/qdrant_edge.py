"""QdrantEdgeDataSource: kNN in a Qdrant Edge shard (Qdrant's engine in process), one
`query_batch` call per iteration.

The filter compiles through the same compiler as the qdrant-client adapter
(`emb_opt.filters.to_qdrant`, built from `qdrant_edge` classes), and hits, scans and
samples go through the same `QdrantPoints` code. A config's `source.path` is a folder of
shards, one per collection (`ShardDirectory`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, missing_dependency
from ..filters import Filter
from ..filters._native import infer_kinds
from ..filters.to_qdrant import edge_models, to_qdrant_edge
from .backend import Backend
from .base import QueryHits, VectorDataSource
from .names import IDENTIFIER, QDRANT_EDGE
from .qdrant import METRICS, QdrantPoints, _vector_params
from .remote import load_rows, loader_metric
from .retry import RetryPolicy
from .servers import connect_server
from .spec import SourceSpec

CONFIG_FILE = "edge_config.json"  # where a shard keeps its configuration
INDEX_TYPES = {"number": "Float", "bool": "Bool", "str": "Keyword"}  # payload index per kind


def import_edge() -> Any:
    try:
        import qdrant_edge
    except ImportError:
        raise missing_dependency("qdrant-edge-py", "qdrant-edge") from None
    return qdrant_edge


def shard_vectors(config: Any) -> dict[str, tuple[int, str]]:
    """Vector name ("" when unnamed) -> (size, distance name) of an `EdgeConfig` or of the
    shard stored in a directory."""
    if isinstance(config, str | os.PathLike):
        file = Path(config) / CONFIG_FILE
        if not file.is_file():
            raise ValueError(f"no Qdrant Edge shard at {config} (it has no {CONFIG_FILE})")
        stored = json.loads(file.read_text())["vectors"]
        return {name: (int(p["size"]), str(p["distance"])) for name, p in stored.items()}
    return {
        name: (int(p.size), str(p.distance).rsplit(".", 1)[-1])
        for name, p in config.vectors.items()
    }


class QdrantEdgeDataSource(QdrantPoints):
    """Search a Qdrant Edge shard with the `k` nearest points per query, filtered natively.

    `shard` is an open `qdrant_edge.EdgeShard` (left open by `close()`), or a shard's
    directory, opened here and closed by `close()`. Edge shards do not report their
    configuration, so with an open shard pass `config`: the `EdgeConfig` it was created
    with, or its directory. `item_key`, `vector_name`, `search_params` (a
    `qdrant_edge.SearchParams` or dict) and the distances are as in `QdrantDataSource`.
    """

    backend = "Qdrant Edge"

    def __init__(
        self,
        shard: Any,
        k: int = 10,
        filter: Any = None,
        item_key: str | None = None,
        distance_cutoff: float | None = None,
        *,
        config: Any = None,
        vector_name: str | None = None,
        search_params: Any = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """A source over a Qdrant Edge shard.

        Args:
            shard: an open `EdgeShard` (left open) or a shard's directory (opened and closed
                here).
            k: results per query.
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            item_key: the payload field holding the item (None: no item).
            distance_cutoff: results farther than this are dropped (None: none are).
            config: the shard's `EdgeConfig` or its directory (needed with an open shard).
            vector_name: the named vector to search, as in `QdrantDataSource`.
            search_params: a `qdrant_edge.SearchParams` or dict, passed through.
            retry: how database calls are retried (None: `RetryPolicy()`).
        """
        edge = import_edge()
        path = None if isinstance(shard, edge.EdgeShard) else Path(shard)
        name = path.name if path is not None else "shard"
        super().__init__(shard, name or "shard", k, filter, item_key, distance_cutoff, retry)
        self.models = edge_models()
        config = config if config is not None else path
        if config is None:
            raise ValueError(
                "pass config=: the EdgeConfig the shard was created with, or its directory "
                "(Qdrant Edge shards do not report their configuration)"
            )
        self.path = path
        vectors = shard_vectors(config)
        self.vector_name, (size, distance) = _vector_params(
            vectors[""] if set(vectors) == {""} else vectors, vector_name
        )
        if distance not in METRICS:
            raise ValueError(f"the shard uses {distance} distance; supported: {', '.join(METRICS)}")
        self.metric = METRICS[distance]
        self._dimension = size
        if isinstance(search_params, Mapping):
            search_params = edge.SearchParams(**search_params)
        self.search_params = search_params
        self._with_vector: Any = [self.vector_name] if self.vector_name else True
        if path is not None:  # opened last: nothing above can leave it open
            self.client = edge.EdgeShard.load(str(path))

    def _compile(self, flt: Filter) -> Any:
        return to_qdrant_edge(flt)

    @property
    def address(self) -> str:
        return f"shard {self.path}" if self.path is not None else "an in-process shard"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        edge = import_edge()
        requests = [
            edge.QueryRequest(
                limit=self.k,
                query=edge.Query.Nearest(vector, using=self.vector_name),
                filter=self.native_filter,
                params=self.search_params,
                with_payload=True,
                with_vector=self._with_vector,
            )
            for vector in queries.tolist()
        ]
        batch = edge.QueryBatchRequest(requests)
        return self._results_to_hits(self._call("query_batch", self.client.query_batch, batch))

    def _scroll_page(
        self, limit: int, offset: Any, native: Any, payload: Any = None
    ) -> tuple[list[Any], Any]:
        request = import_edge().ScrollRequest(
            offset=offset,
            limit=limit,
            filter=native,
            with_payload=payload if payload is not None else False,
            with_vector=self._with_vector if payload is not None else False,
        )
        return self._call("scroll", self.client.scroll, request)

    def _process_bound(self) -> str | None:
        return f"Qdrant Edge ({self.address}) is open in one process at a time"

    def _count(self) -> int:
        request = import_edge().CountRequest(exact=True, filter=self.native_filter)
        return int(self._call("count", self.client.count, request))

    def close(self) -> None:
        """Closes the shard if this source opened it (from a directory)."""
        if self.path is not None:
            self.client.close()


def create_shard(
    path: str | os.PathLike[str],
    embeddings: Any,
    metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ids: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
    *,
    item_key: str = "item",
    metric: str = "l2",
    payload_indexes: bool = True,
    batch_size: int = 1000,
    recreate: bool = False,
) -> Any:
    """A new shard at `path` holding the vectors, payloads (metadata + item) and ids; open.

    Ids default to row numbers (unsigned ints or UUID strings). `payload_indexes` indexes
    every metadata field of one kind whose name is no nested path (numbers: float, bools,
    strings: keyword), which Edge
    uses to plan filtered searches. `recreate=True` deletes an existing shard there first.
    """
    edge = import_edge()
    rows = load_rows(embeddings, metadata, ids, items, item_key)
    target = Path(path)
    if (target / CONFIG_FILE).exists():
        if not recreate:
            raise ValueError(f"a Qdrant Edge shard exists at {target}; pass recreate=True")
        shutil.rmtree(target)
    distance = getattr(edge.Distance, loader_metric(metric, METRICS, "Qdrant Edge"))
    params = edge.EdgeVectorParams(size=rows.embeddings.shape[1], distance=distance)
    shard = edge.EdgeShard.create(str(target), edge.EdgeConfig(vectors=params))
    try:
        kinds = infer_kinds(metadata or []) if payload_indexes else {}
        for field, kind in kinds.items():
            if kind in INDEX_TYPES and re.fullmatch(IDENTIFIER, field):  # no nested path
                schema = getattr(edge.PayloadSchemaType, INDEX_TYPES[kind])
                shard.update(edge.UpdateOperation.create_field_index(field, schema))
        for part in rows.batches(batch_size):
            points = [
                edge.Point(point_id, vector, payload)
                for point_id, vector, payload in zip(
                    rows.ids[part], rows.embeddings[part].tolist(), rows.payloads[part]
                )
            ]
            shard.update(edge.UpdateOperation.upsert_points(points))
        shard.flush()
    except BaseException:
        shard.close()
        raise
    return shard


class ShardDirectory:
    """A folder of Edge shards, one per collection: what a config's `source.path` names.

    It keeps the shards it opened or created open for the sources it hands them to, and
    closes them all in `close()`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.shards: dict[str, Any] = {}

    def names(self) -> list[str]:
        """The collections (shard directories) in the folder."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if (p / CONFIG_FILE).is_file())

    def shard(self, name: str) -> Any:
        """The open shard of collection `name`."""
        if name not in self.shards:
            if name not in self.names():
                raise ValueError(f"no shard {name!r} in {self.path}; shards: {self.names()}")
            self.shards[name] = import_edge().EdgeShard.load(str(self.path / name))
        return self.shards[name]

    def drop(self, name: str) -> None:
        if name in self.shards:
            self.shards.pop(name).close()
        shutil.rmtree(self.path / name)

    def close(self) -> None:
        while self.shards:
            self.shards.popitem()[1].close()


def load_collection(
    client: ShardDirectory,
    collection_name: str,
    embeddings: Any,
    metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ids: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
    *,
    item_key: str = "item",
    metric: str = "l2",
    **options: Any,
) -> None:
    """`create_shard` for collection `collection_name` of a `ShardDirectory` (kept open)."""
    QDRANT_EDGE.check_collection(collection_name)  # a folder inside the directory
    if collection_name in client.shards:
        client.shards.pop(collection_name).close()
    client.shards[collection_name] = create_shard(
        client.path / collection_name,
        embeddings,
        metadata,
        ids,
        items,
        item_key=item_key,
        metric=metric,
        **options,
    )


def open_client(source: SourceSpec) -> ShardDirectory:
    """The folder of shards at `source.path`."""
    import_edge()  # the install hint if qdrant-edge-py is missing
    return ShardDirectory(source.path or ".")


def _source(directory: ShardDirectory, name: str, **options: Any) -> QdrantEdgeDataSource:
    return QdrantEdgeDataSource(directory.shard(name), config=directory.path / name, **options)


def connect(source: SourceSpec) -> VectorDataSource:
    if not source.path:
        raise ConfigError("source.path: the qdrant-edge backend needs path, a folder of shards")
    return connect_server(BACKEND, source, source.path, adapter=_source)


BACKEND = Backend(
    name="qdrant-edge",
    extra="qdrant-edge",
    packages=("qdrant-edge-py",),
    adapter=QdrantEdgeDataSource,
    connect=connect,
    open_client=open_client,
    collections=lambda client: client.names(),
    drop_collection=lambda client, name: client.drop(name),
    load_collection=load_collection,
    names=QDRANT_EDGE,
)
