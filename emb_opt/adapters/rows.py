"""In-process sources whose vectors are addressed by row number (numpy, FAISS, HF Datasets).

A subclass says how to find the nearest rows (`_nearest`) and how to fetch rows (`_fetch`);
this module does the filter mask, one fetch for the whole batch, fetches by id, random samples
and scans (an unfiltered scan fetches contiguous row slices, which the subclasses read without
copying). A projected scan (`scan(fields=...)`) reads each field from a float64 column of the
whole table, made at the first projected scan and kept: a batch costs array slices.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property, partial
from itertools import pairwise
from typing import Any

import numpy as np

from ..filters import Columns, Filter, mask
from ..protocols import ScanBatch
from ..schemas import Item
from .base import (
    QueryHits,
    VectorDataSource,
    even_bounds,
    hits_to_items,
    plain_id,
    slice_hits,
    to_scan_batch,
)
from .fields import Column, field_error, read_column

Rows = np.ndarray | slice  # row numbers, or a contiguous run of rows (`slice(start, stop)`)


def row_positions(rows: Rows) -> Sequence[int]:
    """The row numbers as Python ints."""
    return range(rows.start, rows.stop) if isinstance(rows, slice) else rows.tolist()


def row_count(rows: Rows) -> int:
    return rows.stop - rows.start if isinstance(rows, slice) else len(rows)


def _check_length(name: str, values: Sequence[Any] | None, n: int) -> None:
    if values is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but the index holds {n} vectors")


class RowTable:
    """Row-addressed side data: ids, items and per-row metadata dicts (or ready `Columns`).

    The filter mask is computed vectorised and cached for the filter last asked for; a
    field read as numbers (`numbers`) is kept as a float64 column of every row.
    """

    def __init__(
        self,
        n: int,
        ids: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        columns: Columns | None = None,
        values: Callable[[str], Sequence[Any]] | None = None,
    ) -> None:
        """`values(name)`: every row's value of field `name` (default: from `metadata`)."""
        _check_length("ids", ids, n)
        _check_length("items", items, n)
        _check_length("metadata", metadata, n)
        self.n = n
        self.ids = ids
        self.items = items
        self.metadata = metadata
        self._columns = columns
        self._cached: tuple[Filter, np.ndarray] | None = None
        self._values = values or partial(_field_values, metadata, n)
        self._numbers: dict[str, Column] = {}

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

    def hits(
        self, rows: Rows, distances: np.ndarray, embeddings: np.ndarray, metadata: bool = True
    ) -> QueryHits:
        """Hits at the given rows, with their side data (the metadata only if `metadata`).

        For a slice, `embeddings` may be a view of the source's matrix: it is handed out
        read-only.
        """
        rows_list = row_positions(rows)
        if isinstance(rows, slice):
            embeddings = embeddings.view()
            embeddings.flags.writeable = False
        stored = self.metadata if metadata else None
        return QueryHits(
            ids=self._ids(rows_list),
            distances=distances,
            embeddings=embeddings,
            items=[self.items[r] for r in rows_list] if self.items is not None else None,
            metadata=[stored[r] for r in rows_list] if stored is not None else None,
        )

    def _ids(self, rows: Sequence[int]) -> list[Any]:
        return [self.ids[r] for r in rows] if self.ids is not None else list(rows)

    def numbers(self, name: str, rows: Rows) -> np.ndarray:
        """Field `name` of `rows` as float64, NaN where missing (a read-only view for a
        slice); a `FieldError` if one of them holds no number of the field's shape."""
        column = self._numbers.get(name)
        if column is None:
            column = self._numbers[name] = read_column(self._values(name))
            column.values.flags.writeable = False
        if column.wrong is not None and column.wrong[rows].any():
            at = row_positions(rows)[int(np.flatnonzero(column.wrong[rows])[0])]
            item_id = self._ids([at])[0]
            raise field_error(name, item_id, self._values(name)[at], column.shape)
        return column.values[rows]


def _field_values(
    metadata: Sequence[Mapping[str, Any] | None] | None, n: int, name: str
) -> list[Any]:
    """Field `name` of the `n` metadata rows (None where missing; no metadata: in all)."""
    if metadata is None:
        return [None] * n
    return [row.get(name) if row is not None else None for row in metadata]


class RowDataSource(VectorDataSource):
    """Base of the in-process adapters; subclasses set `self.rows` and implement two methods.

    Another process receives a copy (pickled; Ray shares its numpy arrays without copying).
    """

    rows: RowTable
    sent_by_value = True
    fetch_skips_metadata: bool = False  # `_fetch` takes metadata=False (not building it)

    @abstractmethod
    def _nearest(
        self, queries: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distances, rows) of shape (n_queries, k), nearest first, row -1 where none."""

    @abstractmethod
    def _fetch(self, rows: Rows, distances: np.ndarray) -> QueryHits:
        """The hits at `rows` (flat array or slice), in one batched read."""

    def _fetch_without_metadata(self, rows: Rows) -> QueryHits:
        """The hits at `rows` for a projected scan, whose fields come from the cached
        columns: `_fetch(..., metadata=False)` when the subclass's `_fetch` can skip
        building the metadata (`fetch_skips_metadata`), else `_fetch`'s."""
        distances = np.zeros(row_count(rows))
        if self.fetch_skips_metadata:
            return self._fetch(rows, distances, metadata=False)  # type: ignore[call-arg]
        return self._fetch(rows, distances)

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

    def _field_rows(self, n: int) -> Sequence[Mapping[str, Any] | None]:
        """The metadata of a seeded sample of `n` matching rows."""
        return [item.data for item in self.sample(n, seed=0)]

    def _row_batches(self, batch_size: int, bounds: Any = None) -> Iterator[Rows]:
        """The matching rows of the part `bounds` (None: all), `batch_size` at a time."""
        start, stop = bounds if bounds is not None else (0, self.rows.n)
        allowed = self._allowed()
        if allowed is None:  # contiguous slices: views, no gather
            for first in range(start, stop, batch_size):
                yield slice(first, min(first + batch_size, stop))
            return
        matching = start + np.flatnonzero(allowed[start:stop])
        for first in range(0, len(matching), batch_size):
            yield matching[first : first + batch_size]

    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        """Whole rows (`fields` is not used: a projected scan reads columns, `_scan_columns`)."""
        for rows in self._row_batches(batch_size, bounds):
            yield self._fetch(rows, np.zeros(row_count(rows)))

    def _scan_columns(
        self, batch_size: int, bounds: Any, names: tuple[str, ...]
    ) -> Iterator[ScanBatch]:
        """Rows without their metadata, and slices of the fields' cached columns."""
        for rows in self._row_batches(batch_size, bounds):
            hits = self._fetch_without_metadata(rows)._replace(metadata=None)
            columns = {name: self.rows.numbers(name, rows) for name in names}
            yield to_scan_batch(hits, self.dimension, columns)

    def _count(self) -> int:
        allowed = self._allowed()
        return self.rows.n if allowed is None else int(np.count_nonzero(allowed))
