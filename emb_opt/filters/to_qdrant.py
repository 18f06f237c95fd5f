"""Compile the filter IR to a Qdrant filter, for qdrant-client and for Qdrant Edge.

`qdrant_filter` compiles once to a neutral tree (`Clause`, `Range`, `Equals`, `AnyOf`);
`to_qdrant` builds qdrant-client's `models.Filter` from it and `to_qdrant_edge` the
`qdrant_edge.Filter` (both imported lazily). The rules, checked on Qdrant Edge's real
engine as well as on qdrant-client's local emulation:

- `$ne`/`$nin`/`$not` go through `must_not` (true for missing and null fields), never
  `MatchExcept`, which drops points lacking the field;
- numbers compare with `Range(gte=v, lte=v)`: `MatchValue` takes no floats and an int
  `MatchValue` misses a stored float (2 vs 2.0); ints beyond 2**53 use `MatchValue`;
- bools match with `MatchValue` (strictly: True is not 1; qdrant-edge-py reads a Python
  `True` as the integer 1, so Edge gets a numpy bool), strings with `MatchValue`/`MatchAny`;
- no `must`, `should` or `must_not` list is ever empty (the server reads an empty `should`
  as "match nothing"): constants are folded before compiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from emb_opt.errors import missing_dependency
from emb_opt.filters._native import prepare
from emb_opt.filters.ir import (
    BOOL,
    FALSE,
    NEGATIVE_OPS,
    NUMBER,
    RANGE_OPS,
    TRUE,
    And,
    Comparison,
    Filter,
    Not,
    Or,
    Scalar,
)

EXACT_INT = 2**53  # floats hold every integer up to here exactly


@dataclass(frozen=True)
class Range:
    """`FieldCondition(key, range=Range(**bounds))`."""

    key: str
    bounds: tuple[tuple[str, int | float], ...]


@dataclass(frozen=True)
class Equals:
    """`FieldCondition(key, match=MatchValue(value))`."""

    key: str
    value: Scalar


@dataclass(frozen=True)
class AnyOf:
    """`FieldCondition(key, match=MatchAny(values))` (strings)."""

    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Clause:
    """`Filter(must, should, must_not)`; an empty part is left out."""

    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()


Condition = Clause | Range | Equals | AnyOf


class QdrantModels(NamedTuple):
    """The constructors a native filter is built from (qdrant-client's or Qdrant Edge's)."""

    filter: Callable[..., Any]
    field: Callable[..., Any]
    range: Callable[..., Any]
    value: Callable[[Any], Any]
    any: Callable[[list[Any]], Any]
    has_id: Callable[[list[Any]], Any]  # the points of these ids


def client_models() -> QdrantModels:
    try:
        from qdrant_client import models
    except ImportError:
        raise missing_dependency("qdrant-client", "qdrant") from None
    return QdrantModels(
        models.Filter,
        models.FieldCondition,
        models.Range,
        lambda value: models.MatchValue(value=value),
        lambda values: models.MatchAny(any=values),
        lambda ids: models.HasIdCondition(has_id=ids),
    )


def edge_models() -> QdrantModels:
    try:
        import qdrant_edge
    except ImportError:
        raise missing_dependency("qdrant-edge-py", "qdrant-edge") from None

    def value(value: Any) -> Any:
        strict: Any = np.bool_(value) if isinstance(value, bool) else value  # not read as 1
        return qdrant_edge.MatchValue(value=strict)

    return QdrantModels(
        qdrant_edge.Filter,
        qdrant_edge.FieldCondition,
        qdrant_edge.RangeFloat,
        value,
        lambda values: qdrant_edge.MatchAny(any=values),
        lambda ids: qdrant_edge.HasIdCondition(point_ids=set(ids)),
    )


def qdrant_filter(flt: Filter) -> Clause | None:
    """The neutral form of `flt`, or None for TRUE (no filter).

    FALSE has no native form: callers answer it without a database call.
    """
    if flt == TRUE:
        return None
    if flt == FALSE:
        raise ValueError("an always-false filter has no Qdrant form; answer it without a query")
    prepared = prepare(flt)
    if prepared in (TRUE, FALSE):
        return qdrant_filter(prepared)
    condition = _condition(prepared)
    return condition if isinstance(condition, Clause) else Clause(must=(condition,))


def build(condition: Condition, models: QdrantModels) -> Any:
    """The native object of a neutral condition."""
    if isinstance(condition, Clause):
        parts = {"must": condition.must, "should": condition.should, "must_not": condition.must_not}
        built = {name: [build(child, models) for child in part] for name, part in parts.items()}
        return models.filter(**{name: part for name, part in built.items() if part})
    if isinstance(condition, Range):
        return models.field(key=condition.key, range=models.range(**dict(condition.bounds)))
    if isinstance(condition, Equals):
        return models.field(key=condition.key, match=models.value(condition.value))
    return models.field(key=condition.key, match=models.any(list(condition.values)))


def to_qdrant(flt: Filter) -> Any:
    """A qdrant-client `models.Filter` equivalent to `flt`, or None for TRUE."""
    neutral = qdrant_filter(flt)
    return None if neutral is None else build(neutral, client_models())


def to_qdrant_edge(flt: Filter) -> Any:
    """A `qdrant_edge.Filter` equivalent to `flt`, or None for TRUE."""
    neutral = qdrant_filter(flt)
    return None if neutral is None else build(neutral, edge_models())


def with_ids(native: Any, ids: list[Any], models: QdrantModels) -> Any:
    """A native filter for the points of `ids` that `native` (a compiled filter, or None
    for none) accepts."""
    has_id = models.has_id(ids)
    return models.filter(must=[has_id] if native is None else [has_id, native])


def _condition(flt: Filter) -> Condition:
    if isinstance(flt, Comparison):
        return _comparison(flt)
    if isinstance(flt, And):
        return Clause(must=tuple(map(_condition, flt.children)))
    if isinstance(flt, Or):
        return Clause(should=tuple(map(_condition, flt.children)))
    if isinstance(flt, Not):
        return Clause(must_not=(_condition(flt.child),))
    raise ValueError(f"cannot compile {flt!r} to a Qdrant condition")


def _comparison(comparison: Comparison) -> Condition:
    field, op = comparison.field, comparison.op
    if op in RANGE_OPS:
        return Range(field, ((op, comparison.value),))
    positive = _positive(field, comparison.kind, comparison.values)
    return Clause(must_not=(positive,)) if op in NEGATIVE_OPS else positive


def _positive(field: str, kind: int, values: tuple[Scalar, ...]) -> Condition:
    """The condition "field equals one of values"."""
    conditions: list[Condition]
    if kind == NUMBER:
        conditions = [_number_equals(field, value) for value in values]  # type: ignore[arg-type]
    elif kind == BOOL or len(values) == 1:
        conditions = [Equals(field, value) for value in values]
    else:
        conditions = [AnyOf(field, values)]
    return conditions[0] if len(conditions) == 1 else Clause(should=tuple(conditions))


def _number_equals(field: str, value: int | float) -> Condition:
    if isinstance(value, int) and abs(value) > EXACT_INT:
        return Equals(field, value)
    return Range(field, (("gte", value), ("lte", value)))
