"""What the core asks of a data source, one tier per capability.

The runner, the strategies and the config type their sources with these runtime-checkable
protocols and test a tier with `isinstance(source, Tier)`; they never import an adapter.

    DataSourceFunction   called with queries: the least a source is (a plain function works)
    Searchable           ... and the dimension of its vectors (checked before a database call)
    Sampleable           sample: random items that pass the filter
    Fetchable            fetch: items by id
    Scannable            scan, count: every item that passes the filter
    Narrowable           narrowed: the same source with a further filter (to scan a subset)
    Partitioned          partitions: a scan in disjoint parts
    Describable          stored_fields, scan(fields=...): what it stores beside the vectors
    Reopenable           opener, offer_opener: opens again in another process (a Ray worker)
    Closable             close: release the backend
    DataSource           Searchable + Scannable + Closable: what a configured backend builds

The built-in adapters are all of `DataSource`, `Sampleable`, `Fetchable`, `Narrowable`,
`Partitioned`, `Describable` and `Reopenable`. Their `fetch` answers only for items that pass
the source's filter: an id whose item the filter rejects is unknown, as one the collection
lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from .schemas import DataSourceResponse, Item, Query

SCAN_BATCH = 8192  # rows per scan batch unless the caller says otherwise


class ScanBatch(NamedTuple):
    """Consecutive items of a scan, as columns.

    `ids`, `items` and `metadata` hold what a kNN hit for the same item carries (`items` /
    `metadata` are None when the source has none); `embeddings` is an (n, dimension)
    float32 matrix, possibly a read-only view of the source's storage (copy to write).
    A scan projected on some fields (`scan(fields=...)`, `Describable`) has no `metadata`
    but `columns`: per field a float64 array, (n,) for a number field or (n, width) for a
    vector field, NaN where an item lacks the field.
    """

    ids: list[Any]
    embeddings: np.ndarray
    items: list[Any] | None = None
    metadata: list[dict[str, Any] | None] | None = None
    columns: dict[str, np.ndarray] | None = None


class StoredField(NamedTuple):
    """One field stored beside the vectors, as the source reports it."""

    name: str
    kind: str  # "number" | "vector" (fixed-length list of numbers) | "text" | "other"
    width: int  # numbers per item: 1 for "number", the length for "vector", 0 otherwise
    present: float  # share of the sampled items that hold it (not None), 0..1
    distinct: int  # distinct values among the sampled items that hold it
    sampled: int  # how many items were sampled


@runtime_checkable
class Searchable(Protocol):
    """A kNN source: one response per query, nearest first; vectors of a known length."""

    @property
    def dimension(self) -> int: ...

    def __call__(self, queries: list[Query]) -> list[DataSourceResponse]: ...


@runtime_checkable
class Sampleable(Protocol):
    """Draws random items from the collection."""

    def sample(self, n: int, seed: int | None = None) -> list[Item]:
        """`n` distinct random items that pass the filter (fewer if fewer match)."""
        ...


@runtime_checkable
class Fetchable(Protocol):
    """Looks items up by id."""

    def fetch(self, ids: Sequence[Any]) -> list[Item]:
        """The items with these ids, in that order (an unknown id is a ValueError naming
        it; the built-in sources raise `emb_opt.errors.UnknownIdError`, which lists them)."""
        ...


@runtime_checkable
class Scannable(Protocol):
    """Streams the whole collection."""

    def scan(self, batch_size: int = SCAN_BATCH) -> Iterator[ScanBatch]:
        """Every item the filter accepts, once each, in non-empty batches."""
        ...

    def count(self) -> int:
        """How many items the filter accepts (what a full `scan` yields)."""
        ...


@runtime_checkable
class Narrowable(Protocol):
    """Applies a further filter inside the database."""

    def narrowed(self, flt: Any) -> Scannable:
        """This source with `flt` (plain data or filter IR) applied besides its own filter:
        its scans and counts hold the items both accept. It shares the source's
        connection: close the source, not it."""
        ...


class Partition(NamedTuple):
    """One part of a source's scan: `number` its place among the parts, `bounds` what the
    source needs to read it (a row range, fragment ids, an id range, ...)."""

    number: int
    bounds: Any = None


@runtime_checkable
class Partitioned(Protocol):
    """Scans in disjoint parts (another process reads one when the source is `Reopenable`)."""

    def partitions(self, count: int) -> list[Partition]:
        """At most `count` parts (fewer for a small collection); their scans together are
        one full scan, each item in exactly one part, parts in scan order."""
        ...

    def scan(
        self, batch_size: int = SCAN_BATCH, partition: Partition | None = None
    ) -> Iterator[ScanBatch]:
        """Every item the filter accepts in `partition` (None: in the whole collection)."""
        ...


@runtime_checkable
class Describable(Protocol):
    """Reports what it stores beside the vectors and reads chosen fields as columns."""

    def stored_fields(self) -> list[StoredField]:
        """Every field of a sample of the items the filter accepts: its kind, width, and
        how often and how variously the sample holds it."""
        ...

    def scan(
        self,
        batch_size: int = SCAN_BATCH,
        partition: Partition | None = None,
        fields: Sequence[str] | None = None,
    ) -> Iterator[ScanBatch]:
        """The scan (of `partition`); with `fields`, each batch holds those fields as
        float64 `columns` (NaN where missing) and no `metadata`. A value that is no number
        or list of numbers of one length is a ValueError naming the field and the value."""
        ...


@runtime_checkable
class Reopenable(Protocol):
    """Opens again in another process, e.g. a Ray worker rating a part of its scan."""

    def opener(self) -> Callable[[], DataSource]:
        """A picklable function that opens this source again."""
        ...

    def offer_opener(self, opener: Callable[[], DataSource]) -> None:
        """How the source was connected (`open_source` offers it): the source keeps it as
        its opener unless it knows better (it travels by value, or its backend's `connect`
        said how)."""
        ...


@runtime_checkable
class Closable(Protocol):
    """Holds a backend to release."""

    def close(self) -> None: ...


@runtime_checkable
class DataSource(Searchable, Scannable, Closable, Protocol):
    """A kNN source with a known dimension, a full scan and a count, closable: what a
    backend's `connect` returns."""


_ABILITIES: dict[type, tuple[str, str]] = {
    Searchable: ("search with a known dimension", "__call__, dimension"),
    Sampleable: ("sample items", "sample"),
    Fetchable: ("fetch items by id", "fetch"),
    Scannable: ("scan items", "scan, count"),
    Narrowable: ("narrow its filter", "narrowed"),
    Partitioned: ("scan in partitions", "partitions, scan(partition=...)"),
    Describable: ("report its stored fields", "stored_fields, scan(fields=...)"),
    Reopenable: ("be opened again in another process", "opener, offer_opener"),
    Closable: ("be closed", "close"),
    DataSource: ("serve as a data source", "__call__, dimension, scan, count, close"),
}


def lacks(where: str, source: object, tier: type) -> str:
    """The one-line error for a `source` without `tier`, e.g. "start.random: MySource cannot
    sample items (it does not implement Sampleable: sample)"."""
    ability, members = _ABILITIES[tier]
    return (
        f"{where}: {type(source).__name__} cannot {ability} "
        f"(it does not implement {tier.__name__}: {members})"
    )
