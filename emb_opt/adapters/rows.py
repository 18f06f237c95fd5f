"""In-process sources whose vectors are addressed by row number (numpy, FAISS, HF Datasets).

A subclass says how to find the nearest rows (`_nearest`) and how to fetch rows (`_fetch`);
this module does the filter mask, one fetch for the whole batch, fetches by id, random samples
and scans (an unfiltered scan fetches contiguous row slices, which the subclasses read without
copying).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np

from ..filters import Columns, Filter, mask
from ..schemas import Item
from .base import (
    QueryHits,
    VectorDataSource,
    even_bounds,
    hits_to_items,
    plain_id,
    slice_hits,
)

Rows = np.ndarray | slice  # row numbers, or a contiguous run of rows (`slice(start, stop)`)


def row_positions(rows: Rows) -> Sequence[int]:
    """The row numbers as Python ints."""
    return range(rows.start, rows.stop) if isinstance(rows, slice) else rows.tolist()


def _check_length(name: str, values: Sequence[Any] | None, n: int) -> None:
    if values is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but the index holds {n} vectors")


class RowTable:
    """Row-addressed side data: ids, items and per-row metadata dicts (or ready `Columns`).

    The filter mask is computed vectorised and cached for the filter last asked for.
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

    def rows_of(self, ids: Sequence[Any]) -> list[int]:
        """The rows of those of `ids` (`plain_id` values) the table holds."""
        if self.ids is None:  # the ids are the row numbers
            return [i for i in ids if isinstance(i, int) and 0 <= i < self.n]
        positions = self._positions
        return [positions[i] for i in ids if i in positions]

    @cached_property
    def _positions(self) -> dict[Any, int]:
        """The row of each id (as `plain_id` gives it), made at the first fetch by id."""
        keys = (plain_id(item_id) for item_id in self.ids or ())
        return {key: row for row, key in enumerate(keys) if key is not None}

    def allowed(self, flt: Filter) -> np.ndarray:
        """Boolean mask of the rows the filter accepts."""
        if self._cached is None or self._cached[0] != flt:
            if self._columns is None:
                self._columns = Columns.from_records(self.metadata or [None] * self.n)
            self._cached = (flt, mask(flt, self._columns))
        return self._cached[1]

    def hits(self, rows: Rows, distances: np.ndarray, embeddings: np.ndarray) -> QueryHits:
        """Hits at the given rows, with their side data.

        For a slice, `embeddings` may be a view of the source's matrix: it is handed out
        read-only.
        """
        rows_list = row_positions(rows)
        if isinstance(rows, slice):
            embeddings = embeddings.view()
            embeddings.flags.writeable = False
        return QueryHits(
            ids=[self.ids[r] for r in rows_list] if self.ids is not None else list(rows_list),
            distances=distances,
            embeddings=embeddings,
            items=[self.items[r] for r in rows_list] if self.items is not None else None,
            metadata=[self.metadata[r] for r in rows_list] if self.metadata is not None else None,
        )


class RowDataSource(VectorDataSource):
    """Base of the in-process adapters; subclasses set `self.rows` and implement two methods.

    Another process receives a copy (pickled; Ray shares its numpy arrays without copying).
    """

    rows: RowTable
    sent_by_value = True

    @abstractmethod
    def _nearest(
        self, queries: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distances, rows) of shape (n_queries, k), nearest first, row -1 where none."""

    @abstractmethod
    def _fetch(self, rows: Rows, distances: np.ndarray) -> QueryHits:
        """The hits at `rows` (flat array or slice), in one batched read."""

    def _allowed(self) -> np.ndarray | None:
        return self.rows.allowed(self.filter) if self.has_filter else None

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        distances, rows = self._nearest(queries, self._allowed())
        valid = rows >= 0
        fetched = self._fetch(rows[valid], distances[valid])
        bounds = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).tolist()
        return [slice_hits(fetched, start, end) for start, end in pairwise(bounds)]

    def _find(self, ids: list[Any]) -> QueryHits:
        """The rows of these ids that the filter mask keeps, in one read."""
        rows = np.array(self.rows.rows_of(ids), dtype=np.int64)
        allowed = self._allowed()
        if allowed is not None:
            rows = rows[allowed[rows]]
        return self._fetch(rows, np.zeros(len(rows)))

    def sample(self, n: int, seed: int | None = None) -> list[Item]:
        """`n` distinct random items that pass the filter (fewer if fewer match)."""
        allowed = self._allowed()
        candidates = np.flatnonzero(allowed) if allowed is not None else self.rows.n
        rng = np.random.default_rng(seed)
        count = min(n, candidates if isinstance(candidates, int) else len(candidates))
        rows = np.sort(rng.choice(candidates, size=count, replace=False))
        return hits_to_items(self._fetch(rows, np.zeros(count)))

    def _partition_bounds(self, count: int) -> list[Any]:
        """Row ranges `(start, stop)` holding near-equal numbers of matching rows."""
        allowed = self._allowed()
        if allowed is None:
            return even_bounds(self.rows.n, count)
        matching = np.flatnonzero(allowed)
        if not len(matching):
            return [(0, 0)]
        starts = [int(matching[a]) for a, _ in even_bounds(len(matching), count)]
        return list(pairwise([*starts, self.rows.n]))

    def _scan(self, batch_size: int, bounds: Any = None) -> Iterator[QueryHits]:
        start, stop = bounds if bounds is not None else (0, self.rows.n)
        allowed = self._allowed()
        if allowed is None:  # contiguous slices: views, no gather
            for first in range(start, stop, batch_size):
                last = min(first + batch_size, stop)
                yield self._fetch(slice(first, last), np.zeros(last - first))
            return
        matching = start + np.flatnonzero(allowed[start:stop])
        for first in range(0, len(matching), batch_size):
            rows = matching[first : first + batch_size]
            yield self._fetch(rows, np.zeros(len(rows)))

    def _count(self) -> int:
        allowed = self._allowed()
        return self.rows.n if allowed is None else int(np.count_nonzero(allowed))
