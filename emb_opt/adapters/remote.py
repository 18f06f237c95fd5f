"""What the database adapters (Qdrant, Chroma, Milvus) share.

`RemoteDataSource` holds the caller's client (never closed by `close()`), runs every
database call through bounded retries that name the backend and address, samples by
scanning matching ids, and turns raw scores into smaller-is-closer distances. Each adapter
pages through its matching items (`_scan`) with the backend's own cursor: Qdrant `scroll`,
Chroma `get` with offsets, the Milvus query iterator; and reads the matching items among
some ids (`_find`, behind the base class's `fetch`) with the id condition and the filter in
one query. The loader helpers check and batch the arrays the `load_collection` functions take.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from ..errors import BackendError
from ..protocols import DataSource
from ..schemas import Item
from .base import QueryHits, VectorDataSource, check_metric, l2_to_distance
from .names import NameRules, encodable
from .retry import RetryPolicy, call_with_retry

T = TypeVar("T")
ANY_ENGINE = NameRules("database")


@dataclass(frozen=True)
class ScoreConvention:
    """How a backend reports closeness; `to_distance` maps it to the library's distances.

    Library distances: euclidean for "l2", 1 - cosine similarity for "cosine", minus the
    dot product for "ip". `l2_squared`: the backend reports squared euclidean distances.
    `similarity`: it reports cosine similarity / dot product (bigger is closer) rather
    than Chroma-style distances (1 - cosine, 1 - dot).
    """

    l2_squared: bool
    similarity: bool

    def to_distance(self, metric: str, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if metric == "l2":
            return l2_to_distance(raw) if self.l2_squared else raw
        if metric == "cosine":
            return 1.0 - raw if self.similarity else raw
        return -raw if self.similarity else raw - 1.0


class RemoteDataSource(VectorDataSource):
    """Base of the database adapters: a caller-owned client, retries, id-based sampling."""

    backend = "database"

    def __init__(
        self,
        client: Any,
        collection_name: str,
        k: int,
        filter: Any,
        item_key: str | None,
        distance_cutoff: float | None,
        retry: RetryPolicy | None,
    ) -> None:
        super().__init__(k, filter, distance_cutoff)
        if not isinstance(collection_name, str) or not collection_name:
            raise ValueError(f"collection_name must be a non-empty str, got {collection_name!r}")
        if item_key is not None and not isinstance(item_key, str):
            raise ValueError(f"item_key must be a str or None, got {item_key!r}")
        self.client = client
        self.collection_name = collection_name
        self.item_key = item_key
        self.retry = retry or RetryPolicy()

    @property
    def address(self) -> str:
        """Where the client points (for error messages)."""
        return "unknown address"

    @cached_property
    def _location(self) -> str:
        return f"on {self.address} (collection {self.collection_name!r})"

    def _call(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` with retries; `BackendError` names backend and address."""
        where = f"{self.backend} {action} {self._location}"
        return call_with_retry(lambda: fn(*args, **kwargs), where, self.retry)

    def _hits(
        self,
        ids: Sequence[Any],
        distances: np.ndarray,
        vectors: Sequence[Any],
        payloads: Sequence[Mapping[str, Any] | None],
        drop: frozenset[str] = frozenset(),
    ) -> QueryHits:
        """Hits from per-result columns (vectors as lists or arrays).

        The payload's `item_key` value becomes the item; the rest, minus the keys in `drop`
        (a backend's id or vector field), the metadata.
        """
        embeddings = (
            np.asarray(vectors, dtype=np.float32)
            if len(vectors)
            else np.empty((0, self.dimension), np.float32)
        )
        key = self.item_key
        skip = drop | {key} if key is not None else drop
        metadata = [
            ({k: v for k, v in payload.items() if k not in skip} if skip else payload) or None
            if payload
            else None
            for payload in payloads
        ]
        items = [payload.get(key) if payload else None for payload in payloads] if key else None
        return QueryHits(
            ids=list(ids),
            distances=distances,
            embeddings=embeddings,
            items=items,
            metadata=metadata,
        )

    def sample(self, n: int, seed: int | None = None) -> list[Item]:
        """`n` distinct random items that pass the filter (fewer if fewer match).

        Scans the ids of the matching items (ids only, paged), picks `n` with `seed`,
        then fetches those items (`fetch_batch` per call).
        """
        if self._empty or n <= 0:
            return []
        ids = sorted(self._matching_ids(), key=_sort_key)
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
        return self.fetch([ids[i] for i in chosen.tolist()])

    def opener(self) -> Callable[[], DataSource]:
        """How another process opens this source: what its `connect` or `set_opener` said.

        A BackendError, raised before anything runs, when no other process can open it
        (`_process_bound`) or nobody said how (a source built directly, not from a config).
        """
        bound = self._process_bound()
        if bound is not None:
            raise BackendError(
                f"{bound}: another process cannot open it, so its pool rounds cannot be rated "
                "on Ray; use a server (source.url) or rate in this process "
                "(rating: {executor: local})"
            )
        if self._opener is None:
            raise BackendError(
                f"{type(self).__name__} was not built from a source block, so another process "
                "does not know how to open it; call set_opener(f), f a picklable function "
                "that opens it"
            )
        return self._opener

    def _process_bound(self) -> str | None:
        """Why only this process can open the collection (None: others can too)."""
        return None

    @abstractmethod
    def _matching_ids(self) -> list[Any]:
        """Every id the filter accepts."""

    @abstractmethod
    def _find(self, ids: list[Any]) -> QueryHits:
        """The items among `ids` that the filter accepts, in any order, in one call."""

    @abstractmethod
    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        """Pages of at most `batch_size` matching items, through the backend's cursor (with
        `fields`: reading those metadata keys, and the item, where the backend can)."""

    @abstractmethod
    def _count(self) -> int:
        """The number of matching items (the backend's count where it has one)."""

    def close(self) -> None:
        """Does nothing: the client belongs to the caller, who closes it."""


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


# ---- loaders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRows:
    """Checked loader input: float32 vectors, ids and one payload dict per row."""

    embeddings: np.ndarray
    ids: list[Any]
    payloads: list[dict[str, Any]]

    def batches(self, size: int) -> Iterator[slice]:
        """Row slices of at most `size` rows."""
        if size < 1:
            raise ValueError(f"batch_size must be at least 1, got {size}")
        for start in range(0, len(self.ids), size):
            yield slice(start, min(start + size, len(self.ids)))


def load_rows(
    embeddings: Any,
    metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ids: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
    item_key: str = "item",
    drop_nulls: bool = False,
    reserved: Sequence[str] = (),
    names: NameRules = ANY_ENGINE,
) -> LoadRows:
    """Check the arrays a loader takes and build one payload per row.

    The payload is the row's metadata plus `{item_key: item}` when items are given (metadata
    may hold that key already with the same value: the items were read from it).
    `drop_nulls` removes None values, for stores that cannot hold null (same filter
    semantics: a null field and a missing one both fail `$eq` and pass `$ne`). Keys in
    `reserved` (a backend's id and vector fields), and keys and text the engine cannot
    store as given (its `names`), are refused naming the row and key.
    """
    matrix = np.ascontiguousarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"embeddings must be a non-empty 2-D array, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("embeddings contain NaN or infinite values")
    n = len(matrix)
    for name, values in (("metadata", metadata), ("ids", ids), ("items", items)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} embeddings")
    row_ids = list(ids) if ids is not None else list(range(n))
    if len(set(row_ids)) != n:
        raise ValueError("ids must be unique")
    if bad := next((i for i in row_ids if isinstance(i, str) and not encodable(i)), None):
        raise ValueError(f"id {bad!r} holds a lone surrogate, which has no UTF-8 form")
    payloads = []
    for row in range(n):
        payload = dict(metadata[row] or {}) if metadata is not None else {}
        if items is not None:
            if item_key in payload and not same_value(payload[item_key], items[row]):
                raise ValueError(
                    f"row {row}: metadata key {item_key!r} holds {payload[item_key]!r}, but "
                    f"the item stored under that key is {items[row]!r}; name another item_key"
                )
            payload[item_key] = items[row]
        if drop_nulls:
            payload = {key: value for key, value in payload.items() if value is not None}
        if clash := [key for key in reserved if key in payload]:
            raise ValueError(f"row {row}: metadata key {clash[0]!r} is the collection's field")
        names.check_row(row, payload)
        payloads.append(payload)
    return LoadRows(matrix, row_ids, payloads)


def same_value(a: Any, b: Any) -> bool:
    """Equal values of one type (True is not 1, 1 is not 1.0)."""
    return type(a) is type(b) and bool(a == b)


def loader_metric(metric: str, names: Mapping[str, str], backend: str) -> str:
    """The backend's name for a library metric; `names` maps backend names to library ones."""
    check_metric(metric)
    for backend_name, library_name in names.items():
        if library_name == metric:
            return backend_name
    raise ValueError(f"{backend} has no {metric!r} metric")


class LoaderCalls:
    """A loader's database calls: retried, failures naming backend, address and collection."""

    def __init__(
        self, backend: str, address: str, collection_name: str, retry: RetryPolicy | None
    ) -> None:
        self.where = f"{backend} at {address} (collection {collection_name!r})"
        self.retry = retry or RetryPolicy()

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return call_with_retry(lambda: fn(*args, **kwargs), self.where, self.retry)

    def make_room(
        self, exists: Callable[[], bool], drop: Callable[[], Any], recreate: bool
    ) -> None:
        """Before creating: refuse to replace an existing collection unless `recreate`."""
        if self(exists):
            if not recreate:
                raise ValueError(f"{self.where} already exists; pass recreate=True to replace it")
            self(drop)
