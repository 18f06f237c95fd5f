"""`Shortlist`: the best-rated unscored items of a scan (or of a part of it), as columns.

Shortlists of disjoint parts merge into the shortlist of their union: the order is by value,
best first, ties broken by scan position (`Shortlist.position`), so rating the parts in any
order, in one process or in many, gives the same shortlist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...adapters.base import scan_to_items
from ...protocols import ScanBatch
from ...schemas import Item

ROW_BITS = 40  # a position is part index << ROW_BITS | row within the part


@dataclasses.dataclass(frozen=True)
class Shortlist:
    """Rows `ids`/`embeddings`/`items`/`metadata` (as in a `ScanBatch`), their model
    `predictions` (rows, heads), acquisition `value` and scan `position`, best first;
    `reads` counts the scan batches read to find them."""

    ids: list[Any]
    embeddings: np.ndarray
    items: list[Any] | None
    metadata: list[dict[str, Any] | None] | None
    predictions: np.ndarray
    value: np.ndarray
    position: np.ndarray
    reads: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls, dimension: int, heads: int) -> Shortlist:
        return cls(
            [],
            np.empty((0, dimension), np.float32),
            None,
            None,
            np.empty((0, heads), np.float32),
            np.empty(0, np.float64),
            np.empty(0, np.int64),
        )

    @classmethod
    def from_batch(
        cls,
        batch: ScanBatch,
        rows: np.ndarray,
        predictions: np.ndarray,
        value: np.ndarray,
        position: np.ndarray,
    ) -> Shortlist:
        """The batch's `rows` (with their predictions, values and positions by row)."""
        picked = rows.tolist()
        return cls(
            [batch.ids[i] for i in picked],
            np.array(batch.embeddings[rows], dtype=np.float32),
            [batch.items[i] for i in picked] if batch.items is not None else None,
            [batch.metadata[i] for i in picked] if batch.metadata is not None else None,
            predictions[rows],
            value[rows],
            position[rows],
            reads=1,
        )

    def best(self, size: int) -> Shortlist:
        """The `size` best rows, best first."""
        return self._take(top(self.value, self.position, size))

    def to_items(self) -> list[Item]:
        return scan_to_items(ScanBatch(self.ids, self.embeddings, self.items, self.metadata))

    def _take(self, rows: np.ndarray) -> Shortlist:
        picked = rows.tolist()
        return Shortlist(
            [self.ids[i] for i in picked],
            self.embeddings[rows],
            [self.items[i] for i in picked] if self.items is not None else None,
            [self.metadata[i] for i in picked] if self.metadata is not None else None,
            self.predictions[rows],
            self.value[rows],
            self.position[rows],
            self.reads,
        )


def merge(shortlists: Sequence[Shortlist], size: int) -> Shortlist:
    """The `size` best rows of disjoint shortlists (all of one dimension and model)."""
    reads = sum(s.reads for s in shortlists)
    present = [s for s in shortlists if len(s)] or list(shortlists[:1])
    if len(present) == 1:
        return dataclasses.replace(present[0].best(size), reads=reads)
    with_items = all(s.items is not None for s in present)
    with_metadata = all(s.metadata is not None for s in present)
    joined = Shortlist(
        [i for s in present for i in s.ids],
        np.concatenate([s.embeddings for s in present]),
        [i for s in present for i in s.items or ()] if with_items else None,
        [m for s in present for m in s.metadata or ()] if with_metadata else None,
        np.concatenate([s.predictions for s in present]),
        np.concatenate([s.value for s in present]),
        np.concatenate([s.position for s in present]),
        reads,
    )
    return joined.best(size)


def top(value: np.ndarray, position: np.ndarray, size: int) -> np.ndarray:
    """Indices of the `size` highest values, best first, ties to the earlier position."""
    n = len(value)
    if size <= 0 or n == 0:
        return np.empty(0, np.int64)
    candidates = np.arange(n)
    if size < n:
        kth = np.partition(value, n - size)[n - size]
        candidates = np.flatnonzero(value >= kth)
    order = np.lexsort((position[candidates], -value[candidates]))
    return candidates[order[:size]]
