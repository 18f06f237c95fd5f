"""The data model: items, queries, batches, and what each plugin returns.

Field names and meaning follow the original emb_opt. Embeddings are held as 1-D numpy
arrays (a list is accepted and converted); they serialise to lists in JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer


def _as_vector(value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if array.ndim != 1:
        raise ValueError(f"an embedding must be one-dimensional, got shape {array.shape}")
    return array


Vector = Annotated[
    np.ndarray,
    BeforeValidator(_as_vector),
    PlainSerializer(lambda v: v.tolist(), return_type=list, when_used="json"),
]


class _Model(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, validate_assignment=False)


@dataclass(slots=True)
class ItemInternal:
    """Bookkeeping the runner keeps on every returned item (a plain dataclass: it is hot)."""

    removed: bool = False
    removal_reason: str | None = None
    query_id: str | None = None
    iteration: int | None = None
    distance: float | None = None


class Item(_Model):
    """Something a data source returned: its id, the item itself, its embedding and score."""

    id: str | int | None = None
    item: Any = None
    embedding: Vector
    score: float | None = None
    data: dict | None = None
    internal: ItemInternal = Field(default_factory=ItemInternal)

    def remove(self, reason: str) -> None:
        """Mark the item invalid, keeping why."""
        self.internal.removed = True
        self.internal.removal_reason = reason

    @classmethod
    def trusted(
        cls,
        id: str | int | None,
        item: Any,
        embedding: np.ndarray,
        data: dict | None,
        distance: float | None,
    ) -> Item:
        """An item from values the library produced itself: no validation, about 1.5 us.

        What `model_construct` does, minus its per-field bookkeeping; adapters use it.
        """
        fields = {
            "id": id,
            "item": item,
            "embedding": embedding,
            "score": None,
            "data": data,
            "internal": ItemInternal(distance=distance),
        }
        instance = cls.__new__(cls)
        object.__setattr__(instance, "__dict__", fields)
        object.__setattr__(instance, "__pydantic_fields_set__", set(_ITEM_FIELDS))
        object.__setattr__(instance, "__pydantic_extra__", None)
        object.__setattr__(instance, "__pydantic_private__", None)
        return instance


_ITEM_FIELDS = frozenset(Item.model_fields)


@dataclass(slots=True)
class QueryInternal:
    """Bookkeeping the runner keeps on every query: its place in the query tree."""

    id: str | None = None
    parent_id: str | None = None
    collection_id: int | None = None
    iteration: int | None = None
    removed: bool = False
    removal_reason: str | None = None


class Query(_Model):
    """A query embedding, with the results the data source returned for it."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    item: Any = None
    embedding: Vector
    data: dict | None = None
    query_results: list[Item] = Field(default_factory=list)
    internal: QueryInternal = Field(default_factory=QueryInternal)

    @classmethod
    def from_item(cls, item: Item) -> Query:
        """A query placed at an item's embedding."""
        return cls(item=item.item, embedding=item.embedding, data=item.data)

    def remove(self, reason: str) -> None:
        """Mark the query invalid, keeping why."""
        self.internal.removed = True
        self.internal.removal_reason = reason

    def valid_results(self) -> list[Item]:
        """The results that are still valid (not filtered out, scored where scoring ran)."""
        return [item for item in self.query_results if not item.internal.removed]


class Batch(_Model):
    """The queries of one iteration."""

    queries: list[Query]

    def __len__(self) -> int:
        return len(self.queries)

    def __iter__(self) -> Iterator[Query]:  # type: ignore[override]
        return iter(self.queries)

    def __getitem__(self, index: int) -> Query:
        return self.queries[index]

    def valid_queries(self) -> list[Query]:
        """Queries not removed."""
        return [query for query in self.queries if not query.internal.removed]

    def items(self, include_removed: bool = False) -> list[Item]:
        """All results of the valid queries, in query order."""
        return [
            item
            for query in self.valid_queries()
            for item in query.query_results
            if include_removed or not item.internal.removed
        ]

    def embeddings(self) -> np.ndarray:
        """The query embeddings as one matrix."""
        return np.stack([query.embedding for query in self.queries])


class DataSourceResponse(_Model):
    """What a data source returns for one query."""

    valid: bool = True
    data: dict | None = None
    query_results: list[Item] = Field(default_factory=list)


class FilterResponse(_Model):
    """What a filter function returns for one item."""

    valid: bool
    data: dict | None = None


class ScoreResponse(_Model):
    """What a score function returns for one item; `score` may be None only when invalid."""

    valid: bool
    score: float | None = None
    data: dict | None = None


class PruneResponse(_Model):
    """What a prune function returns for one query."""

    valid: bool
    data: dict | None = None


class UpdateResponse(_Model):
    """A new query proposed by an update function, with the query it came from."""

    query: Query
    parent_id: str | None = None


DataSourceFunction = Callable[[list[Query]], list[DataSourceResponse]]
FilterFunction = Callable[[list[Item]], list[FilterResponse]]
ScoreFunction = Callable[[list[Item]], list[ScoreResponse]]
PruneFunction = Callable[[list[Query]], list[PruneResponse]]
UpdateFunction = Callable[[list[Query]], list[UpdateResponse]]
