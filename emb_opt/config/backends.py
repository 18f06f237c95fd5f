"""The data a `source` block describes (`source.data`): synthetic demo data or files.

In-process backends (numpy, faiss, hf) hold it; server backends load it into the collection
when it is missing, so every example config runs over the same demo data. How each backend
connects is its descriptor's `connect` (`emb_opt.adapters.<backend>.BACKEND`).
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
