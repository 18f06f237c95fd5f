"""What every adapter shares: argument checks, and turning hits into items (the protocols
they implement are in `emb_opt.protocols`).

An adapter subclasses `VectorDataSource` and implements `dimension` and `_search`, one batched
database call for all queries, for streaming every matching item `_scan` and `_count`, and
for `fetch` `_find`, one read of the matching items among some ids (`_id_key` says which
values can be its ids, and how it compares them); `_partition_bounds` splits a scan into
parts that other processes read (`Partitioned`). `_scan(..., fields=...)` reads only some
metadata keys where the backend can (a projected scan, whose values this class turns into
columns), and `_declared_fields` gives the kinds its schema declares to `stored_fields`.
A backend with a native filter implements `_compile`, which the base class calls once the
adapter is built (its `__init__` has returned, so the schema is known) and whenever
`narrowed` gives a copy a further filter:
`native_filter` holds the result before any search, scan, count or fetch, and an adapter
has no call to forget (`_filter_compiled` builds what depends on it, e.g. statements). The
base class validates the arguments, short-circuits a filter that can match nothing, applies
`distance_cutoff`, batches fetches and builds the responses, scan batches and items.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
import numbers
from abc import ABC, ABCMeta, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final, NamedTuple, cast

import numpy as np

from ..calls import check_query_embeddings
from ..checks import check_positive_int
from ..errors import UnknownIdError
from ..filters import FALSE, TRUE, Filter, parse
from ..filters.ir import and_
from ..protocols import SCAN_BATCH, Partition, ScanBatch, StoredField
from ..protocols import DataSource as DataSource  # its home before emb_opt.protocols
from ..schemas import DataSourceResponse, Item, Query
from .fields import FIELD_SAMPLE, ColumnReader, Declared, check_fields, declared_shapes, profile
from .names import encodable

METRICS = ("l2", "cosine", "ip")
FETCH_BATCH = 1000  # ids per database read of `fetch`
INT64 = (-(2**63), 2**63 - 1)


class _MatchesNothing:
    """The compiled form of a filter that can match nothing: answered without a database call."""

    def __repr__(self) -> str:
        return "MATCHES_NOTHING"


MATCHES_NOTHING: Final = _MatchesNothing()


class QueryHits(NamedTuple):
    """The results of one query, nearest first. `distances` are smaller-is-closer."""

    ids: Sequence[Any]
    distances: np.ndarray
    embeddings: np.ndarray | Sequence[np.ndarray]
    items: Sequence[Any] | None = None
    metadata: Sequence[Mapping[str, Any] | None] | None = None


def check_k(k: Any) -> int:
    return check_positive_int("k", k)


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return metric


def l2_to_distance(squared: np.ndarray) -> np.ndarray:
    """Euclidean distance from squared L2 (clipping the rounding error below zero)."""
    return np.sqrt(np.maximum(squared, 0.0))


class _CompiledOnceBuilt(ABCMeta):
    """Builds an adapter, then compiles its filter (closing the adapter if that fails)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        source = super().__call__(*args, **kwargs)
        try:
            source._compile_filter()
        except BaseException:
            source.close()
            raise
        return source

    @property
    def __signature__(cls) -> inspect.Signature:
        """What the adapter's `__init__` takes (`inspect.signature` of the class)."""
        init = inspect.signature(cls.__init__)  # type: ignore[misc]
        return init.replace(parameters=list(init.parameters.values())[1:])


class VectorDataSource(ABC, metaclass=_CompiledOnceBuilt):
    """Base of the built-in adapters: `k` nearest items per query, filtered inside the search."""

    metric: str = "l2"
    max_k: int | None = None  # the most results per query the engine answers
    fetch_batch: int = FETCH_BATCH  # ids per read of `fetch` (and per `_find` call)
    field_sample: int = FIELD_SAMPLE  # items `stored_fields` profiles
    _id_kind: type | None = None  # the type of every id (int or str), if the backend has one
    # another process gets a copy (pickled) rather than opening it again (in-process sources)
    sent_by_value: ClassVar[bool] = False

    def __init__(self, k: int, filter: Any = None, distance_cutoff: float | None = None) -> None:
        self.k = check_k(k)
        if self.max_k is not None and self.k > self.max_k:
            raise ValueError(
                f"k={self.k} is beyond the {type(self).__name__} limit of {self.max_k} "
                "results per query"
            )
        self.filter: Filter = parse(filter)
        # what `_compile` makes of the filter (the IR itself until the adapter is built)
        self.native_filter: Any = MATCHES_NOTHING if self.filter == FALSE else self.filter
        if distance_cutoff is not None and not np.isfinite(distance_cutoff):
            raise ValueError(f"distance_cutoff must be a finite number, got {distance_cutoff!r}")
        self.distance_cutoff = distance_cutoff
        self._opener: Callable[[], DataSource] | None = None

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of the stored vectors."""

    @abstractmethod
    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        """One batched kNN call for a (n, dimension) float32 matrix, honouring `self.filter`."""

    def __call__(self, queries: list[Query]) -> list[DataSourceResponse]:
        if not queries:
            return []
        check_query_embeddings(queries, self.dimension, type(self).__name__)
        if self._empty:
            return [DataSourceResponse(valid=True, query_results=[]) for _ in queries]
        matrix = np.stack([query.embedding for query in queries]).astype(np.float32, copy=False)
        hits = self._search(matrix)
        return [self._response(query_hits) for query_hits in hits]

    @property
    def has_filter(self) -> bool:
        return self.filter != TRUE

    def _compile(self, flt: Filter) -> Any:
        """`flt` (never FALSE) as the backend's native filter, folded for its schema, or
        MATCHES_NOTHING when the schema shows it can match nothing. The in-process sources
        evaluate the IR itself."""
        return flt

    def _compile_filter(self) -> None:
        """Compile the filter into `native_filter`, then `_filter_compiled`: called by this
        class once the adapter is built and when `narrowed` changes the filter."""
        self.native_filter = MATCHES_NOTHING if self.filter == FALSE else self._compile(self.filter)
        self._filter_compiled()

    def _filter_compiled(self) -> None:
        """Build what depends on `native_filter` (statements, search options); by default
        nothing."""

    @property
    def _empty(self) -> bool:
        """Whether the filter can match nothing (answered without a database call)."""
        return self.native_filter is MATCHES_NOTHING

    def fetch(self, ids: Sequence[Any]) -> list[Item]:
        """The items with these ids, in that order; an id asked for twice gives two items.

        An id the collection lacks, or whose item the filter rejects, is unknown: an
        `UnknownIdError` (a ValueError) naming the unknown ids. The ids are read
        `fetch_batch` at a time, one database call each, the filter applied inside it.
        """
        requested = list(ids)
        keys = [self._id_key(item_id) for item_id in requested]
        found = self._found([key for key in dict.fromkeys(keys) if key is not None])
        missing = [item_id for item_id, key in zip(requested, keys) if key not in found]
        if missing:
            raise UnknownIdError(self._unknown(missing), missing)
        seen: set[int] = set()
        items = []
        for key in keys:
            item = found[key]
            items.append(_copy(item) if id(item) in seen else item)
            seen.add(id(item))
        return items

    def _found(self, keys: list[Any]) -> dict[Any, Item]:
        """The matching items among `keys` (distinct `_id_key` values), by key."""
        found: dict[Any, Item] = {}
        if self._empty:
            return found
        for start in range(0, len(keys), self.fetch_batch):
            for item in hits_to_items(self._find(keys[start : start + self.fetch_batch])):
                found[self._id_key(item.id)] = item
        return found

    def _unknown(self, missing: list[Any]) -> str:
        listed = repr(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        rejected = " that passes its filter" if self.has_filter else ""
        return f"unknown ids {listed}: {type(self).__name__} holds no item of these ids{rejected}"

    def _id_key(self, item_id: Any) -> Any:
        """`item_id` as this source stores and compares its ids, or None when it cannot be
        one of them. By default `plain_id` of `_id_kind`: integers as int, other hashable
        values (str that has a UTF-8 form) as given; never a bool."""
        return plain_id(item_id, self._id_kind)

    def _find(self, ids: list[Any]) -> QueryHits:
        """The items among `ids` (distinct `_id_key` values, at most `fetch_batch`) that the
        filter accepts, in any order, with zero distances: one database call."""
        raise NotImplementedError(f"{type(self).__name__} does not implement fetch")

    def narrowed(self, flt: Any) -> VectorDataSource:
        """This source with `flt` (plain data or filter IR) applied besides its filter: its
        scans, counts, fetches and searches keep the items both accept, the filter compiled
        into the database query as the source's own is. A shallow copy sharing the
        connection: closing it does nothing (close the source). Its `opener` opens the
        source again, narrowed the same way."""
        further = parse(flt)
        view = copy.copy(self)
        view.filter = and_(self.filter, further)
        view._compile_filter()
        view.close = _keep_open  # type: ignore[method-assign]
        if self._opener is not None:
            view._opener = functools.partial(_open_narrowed, self._opener, further)
        return view

    def scan(
        self,
        batch_size: int = SCAN_BATCH,
        partition: Partition | None = None,
        fields: Sequence[str] | None = None,
    ) -> Iterator[ScanBatch]:
        """Every item the filter accepts (in `partition`, or in the whole collection), once
        each, in batches of at most `batch_size`.

        Batches are never empty. `scan_to_items` turns one into `Item`s. With `fields`, a
        column projection: each batch has no `metadata` but `columns`, those fields as
        float64 (NaN where an item lacks one), read without the rest of the payload where
        the backend can; a value that is no number (or list of numbers of the field's
        length) is a `FieldError` naming the field, the item and the value.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        names = None if fields is None else check_fields(fields)
        if self._empty:
            return iter(())
        bounds = None if partition is None else partition.bounds
        if names is not None:
            return self._scan_columns(batch_size, bounds, names)
        return (
            to_scan_batch(hits, self.dimension)
            for hits in self._scan(batch_size, bounds)
            if len(hits.ids)
        )

    def _scan_columns(
        self, batch_size: int, bounds: Any, names: tuple[str, ...]
    ) -> Iterator[ScanBatch]:
        """The projected scan: pages of `_scan` reading only `names`, as columns."""
        reader = ColumnReader(names, declared_shapes(self._declared_fields()))
        for hits in self._scan(batch_size, bounds, names):
            if len(hits.ids):
                columns = reader(hits.ids, hits.metadata)
                yield to_scan_batch(hits._replace(metadata=None), self.dimension, columns)

    def stored_fields(self) -> list[StoredField]:
        """What the items the filter accepts store beside their vectors, by field name: its
        kind ("number", "vector" (a list of numbers of one length), "text" or "other"),
        width, and in a sample of `field_sample` items how many hold it and how many
        distinct values. Kinds come from the backend's schema where it has one, else from
        the sampled values. One or two database reads."""
        rows = [] if self._empty else self._field_rows(self.field_sample)
        return profile(rows, self._declared_fields())

    def _field_rows(self, n: int) -> Sequence[Mapping[str, Any] | None]:
        """The metadata of about `n` items the filter accepts: by default those of the first
        scan batch (one read; a source whose `sample` is cheap samples)."""
        batch = next(self.scan(n), None)
        if batch is None:
            return []
        return batch.metadata if batch.metadata is not None else [None] * len(batch.ids)

    def _declared_fields(self) -> Declared:
        """The metadata fields the backend's schema declares: name -> (kind, width, None
        when the sample gives it); by default none (the sample says)."""
        return {}

    def count(self) -> int:
        """How many items the filter accepts (what a full `scan` yields)."""
        return 0 if self._empty else self._count()

    def partitions(self, count: int) -> list[Partition]:
        """At most `count` disjoint parts of the scan, in scan order (none when the filter
        can match nothing); scanning each gives every matching item exactly once."""
        count = check_positive_int("count", count)
        if self._empty:
            return []
        if count == 1:
            return [Partition(0)]  # the whole scan
        return [Partition(i, bounds) for i, bounds in enumerate(self._partition_bounds(count))]

    def opener(self) -> Callable[[], DataSource]:
        """A picklable function that opens this source again in another process: how it
        was connected (`set_opener`), else the source itself, sent by value."""
        return self._opener or functools.partial(_itself, self)

    def set_opener(self, opener: Callable[[], DataSource]) -> None:
        """Say how another process opens this source (e.g. `connect` with its `SourceSpec`)."""
        self._opener = opener

    def offer_opener(self, opener: Callable[[], DataSource]) -> None:
        """How the source was connected (`open_source` offers it): kept as its opener unless
        the source is sent by value or already has one (its backend's `connect` knows better,
        e.g. the URL of the embedded PostgreSQL it started)."""
        if self._opener is None and not self.sent_by_value:
            self._opener = opener

    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        """Pages of at most `batch_size` matching items (distances unused) within the part
        `bounds` (None: everywhere), honouring the filter; with `fields`, whose metadata
        holds those keys only where the backend can read only them (more is fine: the
        projection picks them)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement scan")

    def _partition_bounds(self, count: int) -> list[Any]:
        """The bounds of at most `count` parts; by default one part, the whole scan."""
        return [None]

    def _count(self) -> int:
        """The number of matching items."""
        raise NotImplementedError(f"{type(self).__name__} does not implement count")

    def _response(self, hits: QueryHits) -> DataSourceResponse:
        if self.distance_cutoff is not None:
            keep = int(np.searchsorted(hits.distances, self.distance_cutoff, side="right"))
            cut: list[Any] = [None if part is None else part[:keep] for part in hits]
            hits = QueryHits(*cut)
        return DataSourceResponse.model_construct(
            valid=True, data={"metric": self.metric}, query_results=hits_to_items(hits)
        )

    def close(self) -> None:
        """Release the backend (the built-in in-process sources hold nothing to release)."""

    def __enter__(self) -> VectorDataSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _itself(source: VectorDataSource) -> VectorDataSource:
    return source


def _keep_open() -> None:
    """The `close` of a narrowed view: the connection belongs to the source it came from."""


def _open_narrowed(opener: Callable[[], DataSource], flt: Filter) -> DataSource:
    """The source `opener` opens (as the one it was taken from, a `VectorDataSource`),
    narrowed by `flt`; closing it closes that source."""
    source = cast(VectorDataSource, opener())
    view = source.narrowed(flt)
    view.close = source.close  # type: ignore[method-assign]
    return view


def _copy(item: Item) -> Item:
    """Another item of the same values (a repeated id in `fetch` gets its own)."""
    data = dict(item.data) if item.data is not None else None
    return Item.trusted(item.id, item.item, item.embedding, data, item.internal.distance)


def plain_id(item_id: Any, kind: type | None = None) -> Any:
    """`item_id` as a plain id: an integer (numpy ones too) as int, a str with a UTF-8 form,
    another hashable value as given; None for a bool, an unhashable value, or (with `kind`,
    int or str) one of another kind or an int beyond 64 bits."""
    if isinstance(item_id, bool | np.bool_) or not isinstance(item_id, Hashable):
        return None
    if isinstance(item_id, numbers.Integral):
        item_id = int(item_id)
        if kind is int and not INT64[0] <= item_id <= INT64[1]:
            return None
    elif isinstance(item_id, str) and not encodable(item_id):
        return None
    return item_id if kind is None or isinstance(item_id, kind) else None


def even_bounds(n: int, count: int) -> list[tuple[int, int]]:
    """`[start, stop)` ranges splitting `range(n)` into at most `count` near-equal parts."""
    parts = max(1, min(count, n))
    edges = [n * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a] or [(0, 0)]


def id_bounds(ids: Iterable[Any], total: int, count: int) -> list[tuple[Any, Any]]:
    """`[start, end)` ranges splitting a stream of `total` ids, in scan order, into at most
    `count` near-equal parts: None opens the first start and the last end. Only the ids that
    start a part are kept (memory grows with `count`, not the stream), and the stream is read
    no further than the last of them."""
    starts = [start for start, _ in even_bounds(total, count)][1:]
    found: list[Any] = []
    if starts:
        for position, item_id in enumerate(ids):
            if position == starts[len(found)]:
                found.append(item_id)
                if len(found) == len(starts):
                    break
    return list(itertools.pairwise([None, *found, None]))


def slice_hits(hits: QueryHits, start: int, end: int) -> QueryHits:
    """Rows `start` to `end` of the hits."""
    return QueryHits(
        *(None if part is None else part[start:end] for part in hits)  # type: ignore[arg-type]
    )


def hits_to_items(hits: QueryHits) -> list[Item]:
    """Items built without re-validation: the adapter already produced well-formed values."""
    return _trusted_items(hits.ids, hits.embeddings, hits.items, hits.metadata, hits.distances)


def scan_to_items(batch: ScanBatch, rows: Sequence[int] | None = None) -> list[Item]:
    """The batch's rows (all, or those at `rows`) as `Item`s: what a kNN search returns for
    them, without a distance."""
    if rows is not None:
        batch = ScanBatch(
            [batch.ids[i] for i in rows],
            batch.embeddings[np.asarray(rows, dtype=np.int64)],
            [batch.items[i] for i in rows] if batch.items is not None else None,
            [batch.metadata[i] for i in rows] if batch.metadata is not None else None,
        )
    return _trusted_items(batch.ids, batch.embeddings, batch.items, batch.metadata, None)


def to_scan_batch(
    hits: QueryHits, dimension: int, columns: dict[str, np.ndarray] | None = None
) -> ScanBatch:
    """A scan batch from hits: float32 (n, dimension) embeddings, metadata as kNN items hold
    it (and the `columns` of a projected scan)."""
    metadata = hits.metadata
    return ScanBatch(
        ids=list(hits.ids),
        embeddings=np.asarray(hits.embeddings, dtype=np.float32).reshape(-1, dimension),
        items=list(hits.items) if hits.items is not None else None,
        metadata=[_metadata(row) for row in metadata] if metadata is not None else None,
        columns=columns,
    )


def _metadata(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(row) if row else None


def _trusted_items(
    ids: Sequence[Any],
    embeddings: np.ndarray | Sequence[np.ndarray],
    items: Sequence[Any] | None,
    metadata: Sequence[Mapping[str, Any] | None] | None,
    distances: np.ndarray | None,
) -> list[Item]:
    """`Item.trusted` per row; a None `distances` leaves every distance unset."""
    ranks = distances.tolist() if distances is not None else [None] * len(ids)
    return [
        Item.trusted(
            ids[index],
            items[index] if items is not None else None,
            embeddings[index],
            _metadata(metadata[index]) if metadata is not None else None,
            distance,
        )
        for index, distance in enumerate(ranks)
    ]
