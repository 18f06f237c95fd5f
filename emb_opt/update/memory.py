"""What a strategy may know: the scored items of its search, in the order they were scored."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice

import numpy as np

from ..log import item_key
from ..schemas import Item, Query


def by_trajectory(queries: list[Query]) -> dict[int | None, list[Query]]:
    """Queries grouped by trajectory (the start query's `collection_id`), in arrival order."""
    groups: dict[int | None, list[Query]] = {}
    for query in queries:
        groups.setdefault(query.internal.collection_id, []).append(query)
    return groups


class ScoredMemory:
    """Unique (embedding, score) rows of the valid scored items of a search.

    It follows the log: `sync` appends the items the log gained since the last call, so rows
    count up in scoring order and a resumed search rebuilds the same rows from its log.
    """

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._embeddings: list[np.ndarray] = []
        self._scores: list[float] = []
        self._matrix: np.ndarray | None = None
        self._synced = 0

    def __len__(self) -> int:
        return len(self._scores)

    def keys(self) -> list[str]:
        """Item keys by row."""
        return list(self._rows)

    def row(self, item: Item) -> int:
        """The row of a remembered item (-1 when unknown)."""
        return self._rows.get(item_key(item), -1)

    def sync(self, items: Mapping[str, Item]) -> None:
        """Remember the valid scored items among those `items` gained since the last sync."""
        for key, item in islice(items.items(), self._synced, None):
            if item.internal.removed or item.score is None or key in self._rows:
                continue
            self._rows[key] = len(self._scores)
            self._embeddings.append(np.asarray(item.embedding, dtype=np.float64))
            self._scores.append(float(item.score))
            self._matrix = None
        self._synced = len(items)

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
