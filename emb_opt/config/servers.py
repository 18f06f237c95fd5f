"""Builders for the database backends: open a client, fill the collection from `data` if it is
missing (so every example runs over the same demo data), and wrap it in its adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from .backends import load_corpus
from .schema import SourceConfig


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

    if source.url:
        client = QdrantClient(url=source.url, api_key=source.api_key or None)
    else:
        client = QdrantClient(path=source.path) if source.path else QdrantClient(":memory:")
    _fill_if_missing(source, client.collection_exists(source.collection), load_collection, client)
    adapter = QdrantDataSource(
        client,
        source.collection,
        k=source.k,
        filter=source.filter,
        item_key=source.item_key,
        **source.options,
    )
    return _owning(adapter, client)


def build_chroma(source: SourceConfig) -> Any:
    import chromadb

    from ..adapters.chroma import ChromaDataSource, load_collection

    if source.url:
        url = urlparse(source.url)
        headers = {"x-chroma-token": source.api_key} if source.api_key else None
        client = chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            headers=headers,
        )
    else:
        client = (
            chromadb.PersistentClient(path=source.path)
            if source.path
            else chromadb.EphemeralClient()
        )
    names = {getattr(c, "name", c) for c in client.list_collections()}
    # a wide HNSW search so the demo collection answers like the exact indexes of the others
    _fill_if_missing(
        source,
        source.collection in names,
        load_collection,
        client,
        ef_search=512,
        ef_construction=256,
    )
    options = {"id_type": int, **source.options} if source.data is not None else source.options
    adapter = ChromaDataSource(
        client,
        source.collection,
        k=source.k,
        filter=source.filter,
        item_key=source.item_key,
        **options,
    )
    return adapter


def build_milvus(source: SourceConfig) -> Any:
    from pymilvus import MilvusClient

    from ..adapters.milvus import MilvusDataSource, load_collection

    client = MilvusClient(
        uri=source.url or source.path or "emb_opt_milvus.db", token=source.api_key or ""
    )
    _fill_if_missing(source, client.has_collection(source.collection), load_collection, client)
    adapter = MilvusDataSource(
        client,
        source.collection,
        k=source.k,
        filter=source.filter,
        item_key=source.item_key,
        **source.options,
    )
    return _owning(adapter, client)
