"""Small helpers for building start batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .schemas import Batch, Item, Query


def build_batch_from_embeddings(embeddings: np.ndarray | Sequence[Sequence[float]]) -> Batch:
    """One query per row of `embeddings`."""
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"expected a non-empty 2-D array of embeddings, got shape {matrix.shape}")
    return Batch(queries=[Query(embedding=row) for row in matrix])


def build_batch_from_items(items: Sequence[Item]) -> Batch:
    """One query at each item's embedding."""
    return Batch(queries=[Query.from_item(item) for item in items])
