"""Per-row ids, items and metadata of an in-process index, and the filter mask over them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..filters import Columns, Filter, mask
from .base import QueryHits


def _check_length(name: str, values: Sequence[Any] | None, n: int) -> None:
    if values is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but the index holds {n} vectors")


class RowTable:
    """Row-addressed side data of an index: row r is the vector FAISS or numpy calls r.

    Metadata is either a sequence of per-row dicts or ready `Columns`; the filter mask is
    computed vectorised and cached for the filter last asked for.
    """

    def __init__(
        self,
        n: int,
        ids: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        columns: Columns | None = None,
    ) -> None:
        _check_length("ids", ids, n)
        _check_length("items", items, n)
        _check_length("metadata", metadata, n)
        self.n = n
        self.ids = ids
        self.items = items
        self.metadata = metadata
        self._columns = columns
        self._cached: tuple[Filter, np.ndarray] | None = None

    def allowed(self, flt: Filter) -> np.ndarray:
        """Boolean mask of the rows the filter accepts."""
        if self._cached is None or self._cached[0] != flt:
            if self._columns is None:
                self._columns = Columns.from_records(self.metadata or [None] * self.n)
            self._cached = (flt, mask(flt, self._columns))
        return self._cached[1]

    def hits(self, rows: np.ndarray, distances: np.ndarray, embeddings: np.ndarray) -> QueryHits:
        """The hits of one query at the given rows (nearest first)."""
        rows_list = rows.tolist()
        return QueryHits(
            ids=[self.ids[r] for r in rows_list] if self.ids is not None else rows_list,
            distances=distances,
            embeddings=embeddings,
            items=[self.items[r] for r in rows_list] if self.items is not None else None,
            metadata=[self.metadata[r] for r in rows_list] if self.metadata is not None else None,
        )
