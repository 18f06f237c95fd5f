"""QdrantDataSource: kNN in a Qdrant collection, one `query_batch_points` call per iteration.

Works with any `QdrantClient`: a server (REST or gRPC) or local mode (`":memory:"` or
`path=`, qdrant-client's Python emulation). The filter compiles to a native
`models.Filter` (`emb_opt.filters.to_qdrant`), so it runs inside the search.
`QdrantPoints` is what this adapter shares with the Qdrant Edge one (`qdrant_edge.py`).
"""

from __future__ import annotations

import numbers
import re
import uuid
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ..errors import missing_dependency
from ..filters import Filter
from ..filters.to_qdrant import QdrantModels, client_models, to_qdrant, with_ids
from .backend import Backend
from .base import QueryHits, VectorDataSource, id_bounds, slice_hits
from .names import IDENTIFIER, QDRANT
from .remote import (
    LoaderCalls,
    RemoteDataSource,
    ScoreConvention,
    load_rows,
    loader_metric,
)
from .retry import RetryPolicy, is_transient
from .servers import connect_server
from .spec import SourceSpec

METRICS = {"Euclid": "l2", "Cosine": "cosine", "Dot": "ip"}
SCORES = ScoreConvention(l2_squared=False, similarity=True)
SCROLL_PAGE = 10_000
POINT_IDS = 2**64  # Qdrant ids: unsigned 64-bit ints, or UUIDs


def import_qdrant() -> Any:
    try:
        from qdrant_client import models
    except ImportError:
        raise missing_dependency("qdrant-client", "qdrant") from None
    return models


def point_order(point_id: Any) -> tuple[int, int]:
    """Where Qdrant's scroll puts a point id: integer ids first, then UUIDs (as strings, or
    `uuid.UUID` from Qdrant Edge) as 128-bit ints."""
    if isinstance(point_id, str | uuid.UUID):
        return 1, uuid.UUID(str(point_id)).int
    return 0, int(point_id)


def qdrant_address(client: Any) -> str:
    """The server URL, or "local mode (...)" for qdrant-client's in-process emulation."""
    from qdrant_client.qdrant_remote import QdrantRemote

    inner = getattr(client, "_client", client)
    if isinstance(inner, QdrantRemote):
        return str(inner.rest_uri)
    return f"local mode ({getattr(inner, 'location', None) or ':memory:'})"


def point_id(item_id: Any) -> int | str | None:
    """A Qdrant point id as the engine compares it: an unsigned 64-bit int, or a UUID (a
    `uuid.UUID` or any form `uuid.UUID` reads) in its hyphenated lowercase form; None for
    anything else."""
    if isinstance(item_id, numbers.Integral) and not isinstance(item_id, bool):
        return int(item_id) if 0 <= int(item_id) < POINT_IDS else None
    if isinstance(item_id, uuid.UUID):
        return str(item_id)
    if isinstance(item_id, str):
        try:
            return str(uuid.UUID(item_id))
        except ValueError:
            return None
    return None


class QdrantPoints(RemoteDataSource):
    """What the qdrant-client and Qdrant Edge adapters share: points (id, score, vector,
    payload) turned into hits, scans and samples paged through `scroll`, and fetches as
    one `scroll` for the points of some ids that pass the filter."""

    vector_name: str | None = None
    models: QdrantModels  # the client's filter constructors

    def _vector(self, point: Any) -> Any:
        return point.vector[self.vector_name] if self.vector_name else point.vector

    def _points_to_hits(self, points: Sequence[Any], scored: bool = True) -> QueryHits:
        raw = np.array([p.score for p in points] if scored else [], dtype=np.float64)
        return self._hits(
            [p.id if isinstance(p.id, int) else str(p.id) for p in points],  # Edge: UUID
            SCORES.to_distance(self.metric, raw) if scored else np.zeros(len(points)),
            [self._vector(p) for p in points],
            [p.payload for p in points],
        )

    def _results_to_hits(self, results: Sequence[Sequence[Any]]) -> list[QueryHits]:
        """The hits of each query's points, converted in one pass over all of them."""
        hits = self._points_to_hits([point for points in results for point in points])
        bounds = np.cumsum([0, *map(len, results)]).tolist()
        return [slice_hits(hits, start, end) for start, end in pairwise(bounds)]

    @abstractmethod
    def _scroll_page(
        self, limit: int, offset: Any, native: Any, payload: Any = None
    ) -> tuple[list[Any], Any]:
        """One page of at most `limit` points from `offset` that the compiled filter
        `native` (None: none) accepts, and the next offset. `payload`: None reads ids only,
        else points with their vectors and this `with_payload` (True: the whole payload,
        False: none, a list: those keys)."""

    def _scroll(
        self, limit: int, payload: Any, bounds: tuple[Any, Any] | None = None
    ) -> Iterator[list[Any]]:
        """Pages of at most `limit` matching points (`payload` as in `_scroll_page`), in id
        order, from id `start` (None: the first) to before id `end` (None: the last)."""
        offset, end = bounds or (None, None)
        stop = None if end is None else point_order(end)
        while True:
            points, offset = self._scroll_page(limit, offset, self.native_filter, payload)
            if stop is not None and (offset is None or point_order(offset) >= stop):
                yield [p for p in points if point_order(p.id) < stop]
                return
            yield points
            if offset is None:
                return

    def _ids(self) -> Iterator[Any]:
        """The matching point ids, in scroll order."""
        for points in self._scroll(SCROLL_PAGE, None):
            yield from (p.id for p in points)

    def _matching_ids(self) -> list[Any]:
        return list(self._ids())

    def _partition_bounds(self, count: int) -> list[Any]:
        """Id ranges holding near-equal numbers of matching points."""
        return id_bounds(self._ids(), self._count(), count)

    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        for points in self._scroll(batch_size, self._payload_keys(fields), bounds):
            yield self._points_to_hits(points, scored=False)

    def _payload_keys(self, fields: tuple[str, ...] | None) -> Any:
        """What a scan reads of the payload: all of it (True) unless `fields` (and the item)
        are plain names (Qdrant reads 'a.b' as a path into 'a'), then those keys only."""
        if fields is None:
            return True
        keys = [*fields, *([self.item_key] if self.item_key else [])]
        if not all(re.fullmatch(IDENTIFIER, key) for key in keys):
            return True
        return keys or False

    def _id_key(self, item_id: Any) -> Any:
        return point_id(item_id)

    def _find(self, ids: list[Any]) -> QueryHits:
        native = with_ids(self.native_filter, ids, self.models)
        points, _ = self._scroll_page(len(ids), None, native, True)
        return self._points_to_hits(points, scored=False)


class QdrantDataSource(QdrantPoints):
    """Search `collection_name` with the `k` nearest points per query, filtered natively.

    `item_key` names the payload field holding the item itself (the rest of the payload
    becomes `Item.data`); `vector_name` picks a named vector (needed when the collection
    has several); `search_params` (a `models.SearchParams` or dict, e.g. `{"hnsw_ef":
    128, "exact": False}`) passes through. Distances: euclidean, 1 - cosine or minus the
    dot product (Qdrant stores cosine vectors normalised, so those come back unit length).
    `close()` leaves the client open: it belongs to the caller.
    """

    backend = "Qdrant"

    def __init__(
        self,
        client: Any,
        collection_name: str,
        k: int = 10,
        filter: Any = None,
        item_key: str | None = None,
        distance_cutoff: float | None = None,
        *,
        vector_name: str | None = None,
        search_params: Any = None,
        timeout: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """A source over a Qdrant collection.

        Args:
            client: the caller's client (left open by `close()`).
            collection_name: the collection to search.
            k: results per query.
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            item_key: the payload field holding the item (None: no item).
            distance_cutoff: results farther than this are dropped (None: none are).
            vector_name: the named vector to search (needed when the collection has several).
            search_params: a `models.SearchParams` or dict, passed through.
            timeout: seconds the server may take per search (None: its default).
            retry: how database calls are retried (None: `RetryPolicy()`).
        """
        super().__init__(client, collection_name, k, filter, item_key, distance_cutoff, retry)
        models = import_qdrant()
        self.models = client_models()
        self.timeout = timeout
        info = self._collection_info()
        self.vector_name, params = _vector_params(info.config.params.vectors, vector_name)
        distance = getattr(params.distance, "value", params.distance)
        if distance not in METRICS:
            raise ValueError(
                f"Qdrant collection {collection_name!r} uses {distance} distance; "
                f"supported: {', '.join(METRICS)}"
            )
        self.metric = METRICS[distance]
        self._dimension = int(params.size)
        if isinstance(search_params, Mapping):
            search_params = models.SearchParams(**search_params)
        self.search_params = search_params
        self._with_vector: Any = [self.vector_name] if self.vector_name else True

    def _compile(self, flt: Filter) -> Any:
        return to_qdrant(flt)

    @property
    def address(self) -> str:
        return qdrant_address(self.client)

    @property
    def dimension(self) -> int:
        return self._dimension

    def _collection_info(self) -> Any:
        try:
            return self._call("get_collection", self.client.get_collection, self.collection_name)
        except Exception as error:
            if is_transient(error) or self._exists():
                raise
            names = [c.name for c in self.client.get_collections().collections]
            raise ValueError(
                f"Qdrant at {self.address} has no collection {self.collection_name!r}; "
                f"collections: {names}"
            ) from None

    def _exists(self) -> bool:
        try:
            return bool(self.client.collection_exists(self.collection_name))
        except Exception:
            return True  # cannot tell: keep the original error

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        models = import_qdrant()

        def query() -> Any:
            requests = [
                models.QueryRequest(
                    query=vector,
                    using=self.vector_name,
                    filter=self.native_filter,
                    params=self.search_params,
                    limit=self.k,
                    with_payload=True,
                    with_vector=self._with_vector,
                )
                for vector in queries.tolist()
            ]
            return self.client.query_batch_points(
                self.collection_name, requests=requests, timeout=self.timeout
            )

        responses = self._call("query_batch_points", query)
        return self._results_to_hits([response.points for response in responses])

    def _scroll_page(
        self, limit: int, offset: Any, native: Any, payload: Any = None
    ) -> tuple[list[Any], Any]:
        return self._call(
            "scroll",
            self.client.scroll,
            self.collection_name,
            scroll_filter=native,
            limit=limit,
            offset=offset,
            with_payload=payload if payload is not None else False,
            with_vectors=self._with_vector if payload is not None else False,
        )

    def _process_bound(self) -> str | None:
        if self.address.startswith("local mode"):
            return f"Qdrant in {self.address} is open in one process at a time"
        return None

    def _count(self) -> int:
        result = self._call(
            "count",
            self.client.count,
            self.collection_name,
            count_filter=self.native_filter,
            exact=True,
        )
        return int(result.count)


def _vector_params(vectors: Any, name: str | None) -> tuple[str | None, Any]:
    """(vector name or None, its VectorParams) from a collection's vectors config."""
    if not isinstance(vectors, Mapping):
        if name:
            raise ValueError(f"vector_name={name!r}, but the collection has one unnamed vector")
        return None, vectors
    if name is None and len(vectors) == 1:
        name = next(iter(vectors))
    if name not in vectors:
        raise ValueError(
            f"vector_name must be one of the collection's vectors {sorted(vectors)}, got {name!r}"
        )
    return name, vectors[name]


def load_collection(
    client: Any,
    collection_name: str,
    embeddings: Any,
    metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ids: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
    *,
    item_key: str = "item",
    metric: str = "l2",
    vector_name: str | None = None,
    batch_size: int = 1000,
    recreate: bool = False,
    retry: RetryPolicy | None = None,
) -> None:
    """Create `collection_name` and upsert the vectors, payloads (metadata + item) and ids.

    Ids default to row numbers (Qdrant ids are unsigned ints or UUID strings). Upserts go
    in batches of `batch_size` points and wait for the server to apply them.
    `recreate=True` drops an existing collection of that name first.
    """
    models = import_qdrant()
    rows = load_rows(embeddings, metadata, ids, items, item_key, names=QDRANT)
    QDRANT.check_collection(collection_name)
    distance = loader_metric(metric, METRICS, "Qdrant")
    params = models.VectorParams(size=rows.embeddings.shape[1], distance=distance)
    call = LoaderCalls("Qdrant", qdrant_address(client), collection_name, retry)
    call.make_room(
        lambda: client.collection_exists(collection_name),
        lambda: client.delete_collection(collection_name),
        recreate,
    )
    call(
        client.create_collection,
        collection_name,
        vectors_config={vector_name: params} if vector_name else params,
    )
    for part in rows.batches(batch_size):
        vectors = rows.embeddings[part].tolist()
        batch = models.Batch(
            ids=rows.ids[part],
            vectors={vector_name: vectors} if vector_name else vectors,
            payloads=rows.payloads[part],
        )
        call(client.upsert, collection_name, points=batch, wait=True)


def open_client(source: SourceSpec) -> Any:
    """A server at `source.url`, local mode at `source.path`, or local mode in memory."""
    import_qdrant()  # the install hint if qdrant-client is missing
    from qdrant_client import QdrantClient

    if source.url:
        return QdrantClient(url=source.url, api_key=source.api_key or None)
    return QdrantClient(path=source.path) if source.path else QdrantClient(":memory:")


def connect(source: SourceSpec) -> VectorDataSource:
    return connect_server(BACKEND, source, source.url or source.path or ":memory:")


BACKEND = Backend(
    name="qdrant",
    extra="qdrant",
    packages=("qdrant-client",),
    adapter=QdrantDataSource,
    connect=connect,
    open_client=open_client,
    collections=lambda client: [c.name for c in client.get_collections().collections],
    drop_collection=lambda client, name: client.delete_collection(name),
    load_collection=load_collection,
    names=QDRANT,
)
