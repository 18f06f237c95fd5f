"""Builders that turn a `source` block into a data source, one per built-in backend.

In-process backends (numpy, faiss, hf) hold the data given in `source.data`; server backends
connect to `url` (or open `path`), and fill the collection from `source.data` when it is
missing, so every example config runs over the same demo data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..synthetic import Corpus, random_corpus
from .schema import FileData, SourceConfig


def load_corpus(source: SourceConfig) -> Corpus:
    """The vectors, items and metadata described by `source.data`."""
    data = source.data
    if data is None:
        raise ConfigError(
            f"source.data: the {source.backend} backend needs data: {{kind: synthetic, n: ..., "
            "dim: ...} or {kind: files, embeddings: x.npy, metadata: x.jsonl}"
        )
    if not isinstance(data, FileData):
        return random_corpus(data.n, data.dim, data.seed)
    try:
        embeddings = np.load(data.embeddings).astype(np.float32)
    except OSError as error:
        raise ConfigError(
            f"source.data.embeddings: cannot read {data.embeddings!r} ({error})"
        ) from None
    metadata: list[dict[str, Any]] = [{} for _ in range(len(embeddings))]
    if data.metadata is not None:
        lines = Path(data.metadata).read_text().splitlines()
        metadata = [json.loads(line) for line in lines if line.strip()]
        if len(metadata) != len(embeddings):
            raise ConfigError(
                f"source.data.metadata: {len(metadata)} rows for {len(embeddings)} embeddings"
            )
    items = (
        [row.get(data.items_key) for row in metadata] if data.items_key else [None] * len(metadata)
    )
    return Corpus(embeddings, items, metadata)


def build_numpy(source: SourceConfig) -> Any:
    from ..adapters.numpy import NumpyDataSource

    corpus = load_corpus(source)
    return NumpyDataSource(
        corpus.embeddings,
        k=source.k,
        items=corpus.items,
        metadata=corpus.metadata,
        filter=source.filter,
        **source.options,
    )


def build_faiss(source: SourceConfig) -> Any:
    from ..adapters.faiss import FaissDataSource, import_faiss

    faiss = import_faiss()
    corpus = load_corpus(source)
    options = dict(source.options)
    index = faiss.index_factory(corpus.embeddings.shape[1], options.pop("index", "Flat"))
    index.train(corpus.embeddings)
    index.add(corpus.embeddings)
    return FaissDataSource(
        index,
        k=source.k,
        items=corpus.items,
        metadata=corpus.metadata,
        embeddings=corpus.embeddings,
        filter=source.filter,
        **options,
    )


def build_hf(source: SourceConfig) -> Any:
    import datasets
    from datasets import Dataset

    from ..adapters.huggingface import HuggingFaceDataSource

    corpus = load_corpus(source)
    columns: dict[str, Any] = {"id": list(range(len(corpus.items))), "item": corpus.items}
    for key in sorted({k for row in corpus.metadata for k in row}):
        columns[key] = [row.get(key) for row in corpus.metadata]
    columns["embedding"] = list(corpus.embeddings)
    dataset = Dataset.from_dict(columns)
    datasets.disable_progress_bars()
    dataset.add_faiss_index("embedding")
    return HuggingFaceDataSource(
        dataset,
        "embedding",
        k=source.k,
        item_key="item",
        id_key="id",
        filter=source.filter,
        **source.options,
    )
