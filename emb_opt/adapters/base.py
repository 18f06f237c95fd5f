"""What every data source shares: the protocol, argument checks, and turning hits into items.

An adapter subclasses `VectorDataSource` and implements `dimension` and `_search`, one batched
database call for all queries. The base class validates the queries, short-circuits a filter
that can match nothing, applies `distance_cutoff` and builds the responses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..calls import check_query_embeddings
from ..checks import check_positive_int
from ..filters import FALSE, TRUE, Filter, parse
from ..schemas import DataSourceResponse, Item, Query

METRICS = ("l2", "cosine", "ip")


@runtime_checkable
class DataSource(Protocol):
    """A kNN source: one response per query, a known dimension, closable."""

    @property
    def dimension(self) -> int: ...

    def __call__(self, queries: list[Query]) -> list[DataSourceResponse]: ...

    def close(self) -> None: ...


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


class VectorDataSource(ABC):
    """Base of the built-in adapters: `k` nearest items per query, filtered inside the search."""

    metric: str = "l2"

    def __init__(self, k: int, filter: Any = None, distance_cutoff: float | None = None) -> None:
        self.k = check_k(k)
        self.filter: Filter = parse(filter)
        if distance_cutoff is not None and not np.isfinite(distance_cutoff):
            raise ValueError(f"distance_cutoff must be a finite number, got {distance_cutoff!r}")
        self.distance_cutoff = distance_cutoff

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
        if self.filter == FALSE:
            return [DataSourceResponse(valid=True, query_results=[]) for _ in queries]
        matrix = np.stack([query.embedding for query in queries]).astype(np.float32, copy=False)
        hits = self._search(matrix)
        return [self._response(query_hits) for query_hits in hits]

    @property
    def has_filter(self) -> bool:
        return self.filter != TRUE

    def _response(self, hits: QueryHits) -> DataSourceResponse:
        if self.distance_cutoff is not None:
            keep = int(np.searchsorted(hits.distances, self.distance_cutoff, side="right"))
            hits = QueryHits(*(None if part is None else part[:keep] for part in hits))
        return DataSourceResponse.model_construct(
            valid=True, data={"metric": self.metric}, query_results=hits_to_items(hits)
        )

    def close(self) -> None:
        """Release the backend (the built-in in-process sources hold nothing to release)."""

    def __enter__(self) -> VectorDataSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hits_to_items(hits: QueryHits) -> list[Item]:
    """Items built without re-validation: the adapter already produced well-formed values."""
    items, metadata = hits.items, hits.metadata
    return [
        Item.trusted(
            hits.ids[index],
            items[index] if items is not None else None,
            hits.embeddings[index],
            dict(metadata[index]) if metadata is not None and metadata[index] else None,
            distance,
        )
        for index, distance in enumerate(hits.distances.tolist())
    ]
