"""What a strategy may know: the scored items of its search, in the order they were scored."""

from __future__ import annotations

import numpy as np

from ..log import SearchLog, item_key
from ..schemas import Item, Query


def by_trajectory(queries: list[Query]) -> dict[int | None, list[Query]]:
    """Queries grouped by trajectory (the start query's `collection_id`), in arrival order."""
    groups: dict[int | None, list[Query]] = {}
    for query in queries:
        groups.setdefault(query.internal.collection_id, []).append(query)
    return groups


class ScoredMemory:
    """Unique (embedding, score) rows of the valid scored items of a search, each score
    oriented by the log's direction (higher is better: `Direction.orient`); an item scored
    more than once has one row, with the mean of its scores.

    It follows the log's journal: `sync` appends the items the log gained since the last
    call, so rows count up in scoring order and a resumed search rebuilds the same rows from
    its log. The matrix grows by doubling, so keeping up costs time in proportion to the rows
    added.
    """

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._embeddings = np.empty((0, 0))
        self._scores = np.empty(0)
        self._synced = 0

    def __len__(self) -> int:
        return len(self._rows)

    def keys(self) -> list[str]:
        """Item keys by row."""
        return list(self._rows)

    def row(self, item: Item) -> int:
        """The row of a remembered item (-1 when unknown)."""
        return self._rows.get(item_key(item), -1)

    def sync(self, log: SearchLog) -> None:
        """Remember the valid scored items the log gained since the last sync, and the new
        means of those that gained replicates."""
        journal = log.journal
        for kind, key in journal[self._synced :]:
            if kind not in ("scored", "replicate"):
                continue
            item = log.items[key]
            score = log.direction.orient(float(item.score))  # type: ignore[arg-type]
            row = self._rows.get(key)
            if row is not None:
                self._scores[row] = score
            else:
                self._append(key, np.asarray(item.embedding, dtype=np.float64), score)
        self._synced = len(journal)

    def _append(self, key: str, embedding: np.ndarray, score: float) -> None:
        n = len(self._rows)
        if n == len(self._scores):  # full: double the room
            room = max(64, 2 * n)
            grown = np.empty((room, len(embedding)))
            if n:
                grown[:n] = self._embeddings
            self._embeddings, self._scores = grown, np.resize(self._scores, room)
        self._embeddings[n] = embedding
        self._scores[n] = score
        self._rows[key] = n

    @property
    def embeddings(self) -> np.ndarray:
        """(n, d) matrix of the remembered embeddings (a view: do not keep it across syncs)."""
        return self._embeddings[: len(self._rows)]

    @property
    def scores(self) -> np.ndarray:
        return self._scores[: len(self._rows)]

    def nearest(self, point: np.ndarray, m: int | None) -> np.ndarray:
        """Row numbers of the `m` remembered items nearest to `point` (all rows if m is None)."""
        n = len(self)
        if m is None or m >= n:
            return np.arange(n)
        distances = np.linalg.norm(self.embeddings - point, axis=1)
        return np.sort(np.argpartition(distances, m - 1)[:m])
