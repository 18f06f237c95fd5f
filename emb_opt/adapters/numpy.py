"""NumpyDataSource: exact kNN over an in-memory matrix (euclidean, cosine or inner product)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .base import QueryHits, VectorDataSource, check_metric, l2_to_distance
from .rows import RowTable


class NumpyDataSource(VectorDataSource):
    """Brute-force search over `embeddings`; the filter masks rows before ranking.

    Distances: euclidean for "l2", 1 - cosine similarity for "cosine", minus the dot
    product for "ip" (smaller is always closer).
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        k: int = 10,
        metric: str = "l2",
        ids: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        filter: Any = None,
        distance_cutoff: float | None = None,
    ) -> None:
        super().__init__(k, filter, distance_cutoff)
        matrix = np.asarray(embeddings, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise ValueError(f"embeddings must be a non-empty 2-D array, got shape {matrix.shape}")
        self.metric = check_metric(metric)
        self.embeddings = matrix
        self.rows = RowTable(len(matrix), ids, items, metadata)
        if metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            self._unit = matrix / np.where(norms == 0, 1, norms)
        elif metric == "l2":
            self._squared_norms = np.einsum("ij,ij->i", matrix, matrix)

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def _distances(self, queries: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """(n_queries, n_rows) distances to the candidate rows (all rows when None)."""
        if self.metric == "cosine":
            norms = np.linalg.norm(queries, axis=1, keepdims=True)
            unit = self._unit if rows is None else self._unit[rows]
            return 1.0 - (queries / np.where(norms == 0, 1, norms)) @ unit.T
        matrix = self.embeddings if rows is None else self.embeddings[rows]
        if self.metric == "ip":
            return -(queries @ matrix.T)
        squared = self._squared_norms if rows is None else self._squared_norms[rows]
        queries64 = queries.astype(np.float64)
        return l2_to_distance(
            squared[None, :] - 2.0 * (queries64 @ matrix.T) + (queries64**2).sum(1)[:, None]
        )

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        rows = np.flatnonzero(self.rows.allowed(self.filter)) if self.has_filter else None
        distances = self._distances(queries, rows)
        k = min(self.k, distances.shape[1])
        if k == 0:
            return [
                self.rows.hits(np.empty(0, np.int64), np.empty(0), np.empty((0, self.dimension)))
                for _ in queries
            ]
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
        nearest_d = np.take_along_axis(distances, nearest, axis=1)
        order = np.argsort(nearest_d, axis=1, kind="stable")
        nearest = np.take_along_axis(nearest, order, axis=1)
        nearest_d = np.take_along_axis(nearest_d, order, axis=1)
        positions = nearest if rows is None else rows[nearest]
        return [self.rows.hits(p, d, self.embeddings[p]) for p, d in zip(positions, nearest_d)]
