"""What a stateful strategy remembers: every scored item it was handed, and nothing else."""

from __future__ import annotations

import numpy as np

from ..log import item_key
from ..schemas import Item, Query


def scored_results(query: Query) -> list[Item]:
    """A query's valid results that carry a score."""
    return [item for item in query.valid_results() if item.score is not None]


def by_trajectory(queries: list[Query]) -> dict[int | None, list[Query]]:
    """Queries grouped by trajectory (the start query's `collection_id`), in arrival order."""
    groups: dict[int | None, list[Query]] = {}
    for query in queries:
        groups.setdefault(query.internal.collection_id, []).append(query)
    return groups


def knn_radius(queries: list[Query]) -> float | None:
    """Median distance from the queries to their scored results: the local scale of the data."""
    distances = [
        float(np.linalg.norm(item.embedding - query.embedding))
        for query in queries
        for item in scored_results(query)
    ]
    return float(np.median(distances)) if distances else None


class ScoredMemory:
    """Unique (embedding, score) pairs, fed only from the results of queries a strategy received.

    Rows are appended in the order items first arrive, so a seeded strategy that reads the
    memory is deterministic.
    """

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._embeddings: list[np.ndarray] = []
        self._scores: list[float] = []
        self._matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._scores)

    def row(self, item: Item) -> int:
        """The row of a remembered item (-1 when unknown): rows count up in arrival order."""
        return self._rows.get(item_key(item), -1)

    def add_queries(self, queries: list[Query]) -> int:
        """Remember the scored results of `queries`; return how many were new."""
        added = 0
        for query in queries:
            for item in scored_results(query):
                key = item_key(item)
                if key in self._rows:
                    continue
                self._rows[key] = len(self._scores)
                self._embeddings.append(np.asarray(item.embedding, dtype=np.float64))
                self._scores.append(float(item.score))  # type: ignore[arg-type]
                added += 1
        if added:
            self._matrix = None
        return added

    @property
    def embeddings(self) -> np.ndarray:
        """(n, d) matrix of the remembered embeddings."""
        if self._matrix is None:
            self._matrix = np.stack(self._embeddings) if self._embeddings else np.empty((0, 0))
        return self._matrix

    @property
    def scores(self) -> np.ndarray:
        return np.asarray(self._scores, dtype=np.float64)

    def nearest(self, point: np.ndarray, m: int | None) -> np.ndarray:
        """Row numbers of the `m` remembered items nearest to `point` (all rows if m is None)."""
        n = len(self)
        if m is None or m >= n:
            return np.arange(n)
        distances = np.linalg.norm(self.embeddings - point, axis=1)
        return np.sort(np.argpartition(distances, m - 1)[:m])
