"""Compile the filter IR to a Qdrant `models.Filter` (qdrant-client imported lazily).

- `$ne`/`$nin`/`$not` go through `must_not` (true for missing and null fields), never
  `MatchExcept`, which drops points lacking the field;
- numbers compare with `Range(gte=v, lte=v)`: `MatchValue` takes no floats and an int
  `MatchValue` misses a stored float (2 vs 2.0); ints beyond 2**53 use `MatchValue`;
- bools match with `MatchValue` (strictly: True is not 1), strings with `MatchValue`/`MatchAny`;
- no `must`, `should` or `must_not` list is ever empty (the server reads an empty `should`
  as "match nothing"): constants are folded before compiling.
"""

from __future__ import annotations

from typing import Any

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
)

EXACT_INT = 2**53  # floats hold every integer up to here exactly


def _models() -> Any:
    try:
        from qdrant_client import models
    except ImportError:
        raise missing_dependency("qdrant-client", "qdrant") from None
    return models


def to_qdrant(flt: Filter) -> Any:
    """A `models.Filter` equivalent to `flt`, or None for TRUE (no filter).

    FALSE has no native form: callers answer it without a database call.
    """
    if flt == TRUE:
        return None
    if flt == FALSE:
        raise ValueError("an always-false filter has no Qdrant form; answer it without a query")
    models = _models()
    prepared = prepare(flt)
    if prepared in (TRUE, FALSE):
        return to_qdrant(prepared)
    condition = _condition(prepared, models)
    return condition if isinstance(condition, models.Filter) else models.Filter(must=[condition])


def _condition(flt: Filter, models: Any) -> Any:
    if isinstance(flt, Comparison):
        return _comparison(flt, models)
    if isinstance(flt, And):
        return models.Filter(must=[_condition(child, models) for child in flt.children])
    if isinstance(flt, Or):
        return models.Filter(should=[_condition(child, models) for child in flt.children])
    if isinstance(flt, Not):
        return models.Filter(must_not=[_condition(flt.child, models)])
    raise ValueError(f"cannot compile {flt!r} to a Qdrant condition")


def _comparison(comparison: Comparison, models: Any) -> Any:
    field, op = comparison.field, comparison.op
    if op in RANGE_OPS:
        return models.FieldCondition(key=field, range=models.Range(**{op: comparison.value}))
    positive = _positive(field, comparison.kind, comparison.values, models)
    if op in NEGATIVE_OPS:
        return models.Filter(must_not=[positive])
    return positive


def _positive(field: str, kind: int, values: tuple[Any, ...], models: Any) -> Any:
    """The condition "field equals one of values"."""
    if kind == NUMBER:
        conditions = [_number_equals(field, value, models) for value in values]
    elif kind == BOOL:
        conditions = [
            models.FieldCondition(key=field, match=models.MatchValue(value=value))
            for value in values
        ]
    elif len(values) == 1:
        conditions = [models.FieldCondition(key=field, match=models.MatchValue(value=values[0]))]
    else:
        conditions = [models.FieldCondition(key=field, match=models.MatchAny(any=list(values)))]
    return conditions[0] if len(conditions) == 1 else models.Filter(should=conditions)


def _number_equals(field: str, value: int | float, models: Any) -> Any:
    if isinstance(value, int) and abs(value) > EXACT_INT:
        return models.FieldCondition(key=field, match=models.MatchValue(value=value))
    return models.FieldCondition(key=field, range=models.Range(gte=value, lte=value))
