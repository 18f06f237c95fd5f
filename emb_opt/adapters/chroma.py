"""ChromaDataSource: kNN in a Chroma collection, one multi-embedding `query` per iteration.

Works with `chromadb.HttpClient` (a Chroma server) and `PersistentClient` /
`EphemeralClient` (embedded). The filter compiles to a native `where`
(`emb_opt.filters.to_chroma`); a negated range has no exact Chroma form and raises
`UnsupportedFilterError` at construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ..errors import missing_dependency
from ..filters import Filter
from ..filters.to_chroma import to_chroma
from .backend import Backend
from .base import QueryHits, VectorDataSource, even_bounds, plain_id
from .names import CHROMA
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

DOCUMENT = "#document"  # item_key meaning "the item is the record's document"
METRICS = {"l2": "l2", "cosine": "cosine", "ip": "ip"}
SCORES = ScoreConvention(l2_squared=True, similarity=False)
# the loader's names while items go to documents: their key is no metadata key
WITH_DOCUMENTS = replace(CHROMA, keys=replace(CHROMA.keys, pattern=rf"(?s){DOCUMENT}|[^#$].*"))


def import_chroma() -> Any:
    try:
        import chromadb
    except ImportError:
        raise missing_dependency("chromadb", "chroma") from None
    return chromadb


def chroma_address(client: Any) -> str:
    """The server URL, or "embedded (path)" for an in-process client."""
    settings = client.get_settings()
    if settings.chroma_server_host:
        scheme = "https" if settings.chroma_server_ssl_enabled else "http"
        return f"{scheme}://{settings.chroma_server_host}:{settings.chroma_server_http_port}"
    return f"embedded ({settings.persist_directory if settings.is_persistent else 'in memory'})"


def _space(collection: Any) -> str:
    configuration = collection.configuration_json or {}
    for index in ("hnsw", "spann"):
        space = (configuration.get(index) or {}).get("space")
        if space:
            return str(space)
    return str((collection.metadata or {}).get("hnsw:space", "l2"))


class ChromaDataSource(RemoteDataSource):
    """Search `collection_name` with the `k` nearest records per query, filtered natively.

    `item_key` names the metadata key holding the item itself, or is `"#document"` for the
    record's document; the rest of the metadata becomes `Item.data`. Chroma ids are
    strings: `id_type` converts them back (e.g. `int`). Chroma searches an HNSW index:
    results are exact only if the collection's `ef_search` is large enough (see
    `load_collection`). Distances: euclidean, 1 - cosine, or minus the dot product.
    `close()` leaves the client open: it belongs to the caller.
    """

    backend = "Chroma"

    def __init__(
        self,
        client: Any,
        collection_name: str,
        k: int = 10,
        filter: Any = None,
        item_key: str | None = None,
        distance_cutoff: float | None = None,
        *,
        id_type: Callable[[str], Any] = str,
        retry: RetryPolicy | None = None,
    ) -> None:
        """A source over a Chroma collection.

        Args:
            client: the caller's client (left open by `close()`).
            collection_name: the collection to search.
            k: results per query.
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            item_key: the metadata key holding the item, or "#document" (None: no item).
            distance_cutoff: results farther than this are dropped (None: none are).
            id_type: turns Chroma's string ids back into yours (e.g. `int`).
            retry: how database calls are retried (None: `RetryPolicy()`).
        """
        super().__init__(client, collection_name, k, filter, item_key, distance_cutoff, retry)
        self.id_type = id_type
        self.collection = self._collection()
        space = _space(self.collection)
        if space not in METRICS:
            raise ValueError(f"Chroma collection {collection_name!r} uses unknown space {space!r}")
        self.metric = METRICS[space]
        dimension = self.collection.get_model().dimension
        if dimension is None:
            raise ValueError(
                f"Chroma collection {collection_name!r} at {self.address} is empty: its vector "
                "dimension is unknown until it holds records"
            )
        self._dimension = int(dimension)
        self._include = ["embeddings", "metadatas"] + (
            ["documents"] if item_key == DOCUMENT else []
        )

    def _compile(self, flt: Filter) -> Any:
        return to_chroma(flt)

    @property
    def address(self) -> str:
        return chroma_address(self.client)

    @property
    def dimension(self) -> int:
        return self._dimension

    def _collection(self) -> Any:
        get = self.client.get_collection
        try:
            return self._call("get_collection", get, self.collection_name, embedding_function=None)
        except Exception as error:
            if is_transient(error) or type(error).__name__ != "NotFoundError":
                raise
            names = [getattr(c, "name", c) for c in self.client.list_collections()]
            raise ValueError(
                f"Chroma at {self.address} has no collection {self.collection_name!r}; "
                f"collections: {names}"
            ) from None

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        result = self._call(
            "query",
            self.collection.query,
            query_embeddings=queries,
            n_results=self.k,
            where=self.native_filter,
            include=[*self._include, "distances"],
        )
        documents = result.get("documents") or [None] * len(queries)
        return [
            self._records_to_hits(
                ids,
                SCORES.to_distance(self.metric, distances),
                vectors,
                metadatas,
                docs,
            )
            for ids, distances, vectors, metadatas, docs in zip(
                result["ids"],
                result["distances"],
                result["embeddings"],
                result["metadatas"],
                documents,
            )
        ]

    def _records_to_hits(
        self,
        ids: Sequence[str],
        distances: np.ndarray,
        vectors: Sequence[Any],
        metadatas: Sequence[Mapping[str, Any] | None],
        documents: Sequence[str | None] | None,
    ) -> QueryHits:
        if self.item_key == DOCUMENT:
            metadatas = [
                {**(metadata or {}), DOCUMENT: document}
                for metadata, document in zip(metadatas, documents or [])
            ]
        return self._hits(self._ids_read(ids), distances, vectors, metadatas)

    def _ids_read(self, ids: Sequence[str]) -> Sequence[Any]:
        """Chroma's string ids as `id_type` makes them."""
        return ids if self.id_type is str else [self.id_type(i) for i in ids]

    def _pages(
        self, limit: int, include: list[str], bounds: tuple[int, int] | None = None
    ) -> Iterator[Any]:
        """`get` results of at most `limit` matching records, paged by offset, from the
        `start`-th matching record to before the `stop`-th (None: all of them)."""
        offset, stop = bounds or (0, None)
        while stop is None or offset < stop:
            size = limit if stop is None else min(limit, stop - offset)
            result = self._call(
                "get",
                self.collection.get,
                where=self.native_filter,
                limit=size,
                offset=offset,
                include=include,
            )
            yield result
            if len(result["ids"]) < size:
                return
            offset += size

    def _matching_ids(self) -> list[Any]:
        result = self._call("get", self.collection.get, where=self.native_filter, include=[])
        return list(self._ids_read(result["ids"]))

    def _partition_bounds(self, count: int) -> list[Any]:
        """Offset ranges `(start, stop)` of near-equal numbers of matching records."""
        return even_bounds(self._count(), count)

    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        """Pages of `get`. Chroma returns whole metadatas (its `include` names parts of a
        record, not keys): a projected scan reads them all, and the base class picks
        `fields` after reading."""
        for result in self._pages(batch_size, self._include, bounds):
            yield self._got_to_hits(result)

    def _got_to_hits(self, result: Mapping[str, Any]) -> QueryHits:
        """The hits of a `get` result."""
        return self._records_to_hits(
            result["ids"],
            np.zeros(len(result["ids"])),
            result["embeddings"],
            result["metadatas"],
            result.get("documents"),
        )

    def _process_bound(self) -> str | None:
        settings = self.client.get_settings()
        if settings.chroma_server_host or settings.is_persistent:
            return None
        return "Chroma in memory (EphemeralClient) keeps its records in this process"

    def _count(self) -> int:
        if self.native_filter is None:
            return int(self._call("count", self.collection.count))
        return len(self._matching_ids())

    def _id_key(self, item_id: Any) -> Any:
        """The id as Chroma stores it, a non-empty str, when `id_type` turns that back into
        the id (with `id_type=int`, 7 is "7" and "7" is no id; with str, the other way)."""
        key = plain_id(item_id)
        if not isinstance(key, int | str) or key == "":
            return None
        try:
            return str(key) if self.id_type(str(key)) == key else None
        except (ValueError, TypeError):  # no id of `id_type`
            return None

    def _find(self, ids: list[Any]) -> QueryHits:
        get = self.collection.get
        found = self._call("get", get, ids=ids, where=self.native_filter, include=self._include)
        return self._got_to_hits(found)


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
    ef_search: int | None = None,
    ef_construction: int | None = None,
    batch_size: int | None = None,
    recreate: bool = False,
    retry: RetryPolicy | None = None,
) -> None:
    """Create `collection_name` and add the vectors, metadata (+ item) and ids.

    Ids are stored as strings (default: row numbers). Null metadata values are dropped:
    Chroma cannot store them, and a missing key filters the same way. With
    `item_key="#document"`, items (strings) become the records' documents. `ef_search`
    sets the HNSW search breadth (make it at least the collection size for exact
    results). Upserts go in batches of at most the server's maximum batch size.
    """
    as_documents = items is not None and item_key == DOCUMENT
    names = WITH_DOCUMENTS if as_documents else CHROMA
    rows = load_rows(embeddings, metadata, ids, items, item_key, drop_nulls=True, names=names)
    CHROMA.check_collection(collection_name)
    documents = None
    if as_documents:
        documents = [payload.pop(DOCUMENT, None) for payload in rows.payloads]
    settings: dict[str, Any] = {"hnsw:space": loader_metric(metric, METRICS, "Chroma")}
    if ef_search is not None:
        settings["hnsw:search_ef"] = ef_search
    if ef_construction is not None:
        settings["hnsw:construction_ef"] = ef_construction
    call = LoaderCalls("Chroma", chroma_address(client), collection_name, retry)
    call.make_room(
        lambda: collection_name in {getattr(c, "name", c) for c in client.list_collections()},
        lambda: client.delete_collection(collection_name),
        recreate,
    )
    collection = call(
        client.create_collection, collection_name, metadata=settings, embedding_function=None
    )
    size = min(batch_size or 10**9, call(client.get_max_batch_size))
    for part in rows.batches(size):
        call(  # upsert: a retried batch must not fail on ids the first try stored
            collection.upsert,
            ids=[str(i) for i in rows.ids[part]],
            embeddings=rows.embeddings[part],
            metadatas=[payload or None for payload in rows.payloads[part]],
            documents=documents[part] if documents is not None else None,
        )


def open_client(source: SourceSpec) -> Any:
    """A server at `source.url` (`api_key`: its token), a persistent `path`, or in memory."""
    chromadb = import_chroma()
    if source.url:
        url = urlparse(source.url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            headers={"x-chroma-token": source.api_key} if source.api_key else None,
        )
    if source.path:
        return chromadb.PersistentClient(path=source.path)
    return chromadb.EphemeralClient()


def connect(source: SourceSpec) -> VectorDataSource:
    return connect_server(
        BACKEND,
        source,
        source.url or source.path or "memory",
        # a wide HNSW search so the demo collection answers like the exact indexes of the others
        load_options={"ef_search": 512, "ef_construction": 256},
        defaults={"id_type": int} if source.data is not None else {},
        close_client=False,
    )


BACKEND = Backend(
    name="chroma",
    extra="chroma",
    packages=("chromadb",),
    adapter=ChromaDataSource,
    connect=connect,
    open_client=open_client,
    collections=lambda client: [getattr(c, "name", c) for c in client.list_collections()],
    drop_collection=lambda client, name: client.delete_collection(name),
    load_collection=load_collection,
    names=CHROMA,
)
