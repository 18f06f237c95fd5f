"""Builders for the database backends: open a client, fill the collection from `data` if it is
missing (so every example runs over the same demo data), and wrap it in its adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from ..errors import BackendError
from .backends import load_corpus
from .schema import SourceConfig


def _reach(backend: str, address: str, connect: Callable[[], Any]) -> Any:
    """Run the first client calls; a failure is a one-line BackendError naming the address."""
    try:
        return connect()
    except Exception as error:
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        raise BackendError(f"cannot reach {backend} at {address} ({reason})") from None


def _fill_if_missing(
    source: SourceConfig, exists: bool, load: Callable[..., None], client: Any, **options: Any
) -> None:
    if exists or source.data is None:
        return
    corpus = load_corpus(source)
    load(
        client,
        source.collection,
        corpus.embeddings,
        metadata=corpus.metadata,
        ids=list(range(len(corpus.embeddings))),
        items=corpus.items,
        item_key=source.item_key or "item",
        **options,
    )


def _adapter(cls: Callable[..., Any], client: Any, source: SourceConfig, **defaults: Any) -> Any:
    """The adapter over the configured collection (`source.options` override `defaults`)."""
    return cls(
        client,
        source.collection,
        k=source.k,
        filter=source.filter,
        item_key=source.item_key,
        **{**defaults, **source.options},
    )


def _owning(adapter: Any, client: Any) -> Any:
    """Make `adapter.close()` also close the client the config opened (adapters leave a
    caller's client open)."""
    close_adapter = adapter.close

    def close() -> None:
        close_adapter()
        if hasattr(client, "close"):
            client.close()

    adapter.close = close
    return adapter


def build_qdrant(source: SourceConfig) -> Any:
    from qdrant_client import QdrantClient

    from ..adapters.qdrant import QdrantDataSource, load_collection

    def connect() -> tuple[Any, bool]:
        if source.url:
            client = QdrantClient(url=source.url, api_key=source.api_key or None)
        else:
            client = QdrantClient(path=source.path) if source.path else QdrantClient(":memory:")
        return client, client.collection_exists(source.collection)

    client, exists = _reach("Qdrant", source.url or source.path or ":memory:", connect)
    _fill_if_missing(source, exists, load_collection, client)
    return _owning(_adapter(QdrantDataSource, client, source), client)


def build_chroma(source: SourceConfig) -> Any:
    import chromadb

    from ..adapters.chroma import ChromaDataSource, load_collection

    def connect() -> tuple[Any, bool]:
        if source.url:
            url = urlparse(source.url)
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or 8000,
                ssl=url.scheme == "https",
                headers={"x-chroma-token": source.api_key} if source.api_key else None,
            )
        elif source.path:
            client = chromadb.PersistentClient(path=source.path)
        else:
            client = chromadb.EphemeralClient()
        names = {getattr(c, "name", c) for c in client.list_collections()}
        return client, source.collection in names

    client, exists = _reach("Chroma", source.url or source.path or "memory", connect)
    # a wide HNSW search so the demo collection answers like the exact indexes of the others
    _fill_if_missing(
        source,
        exists,
        load_collection,
        client,
        ef_search=512,
        ef_construction=256,
    )
    defaults = {"id_type": int} if source.data is not None else {}
    return _adapter(ChromaDataSource, client, source, **defaults)


def build_milvus(source: SourceConfig) -> Any:
    from pymilvus import MilvusClient

    from ..adapters.milvus import MilvusDataSource, load_collection

    uri = source.url or source.path or "emb_opt_milvus.db"

    def connect() -> tuple[Any, bool]:
        client = MilvusClient(uri=uri, token=source.api_key or "", timeout=10)
        return client, client.has_collection(source.collection)

    client, exists = _reach("Milvus", uri, connect)
    _fill_if_missing(source, exists, load_collection, client)
    return _owning(_adapter(MilvusDataSource, client, source), client)
