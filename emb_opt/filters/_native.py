"""Rewrites shared by the native compilers (`to_qdrant`, `to_chroma`, `to_milvus`, `to_lance`).

All of them keep the reference semantics; they only move the filter into a shape a
backend can spell: infinite bounds become finite ones, cross-kind comparisons on fields
of a known kind fold to constants, numeric lists split into their int and float parts,
numbers compared with an integer field become integers.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from emb_opt.filters.ir import (
    BOOL,
    FALSE,
    LIST_OPS,
    NEGATIVE_OPS,
    NUMBER,
    RANGE_OPS,
    STR,
    TRUE,
    And,
    Comparison,
    Const,
    Filter,
    Not,
    Or,
    and_,
    kind_of,
    not_,
    or_,
)

MAX_FLOAT = sys.float_info.max
KINDS = ("number", "bool", "str", "mixed")
_KIND_OF_VALUE = {NUMBER: "number", BOOL: "bool", STR: "str"}


def map_comparisons(flt: Filter, fn: Callable[[Comparison], Filter]) -> Filter:
    """Rebuild `flt` with every comparison replaced by `fn(comparison)`, folding constants."""
    if isinstance(flt, Comparison):
        return fn(flt)
    if isinstance(flt, And):
        return and_(*(map_comparisons(child, fn) for child in flt.children))
    if isinstance(flt, Or):
        return or_(*(map_comparisons(child, fn) for child in flt.children))
    if isinstance(flt, Not):
        return not_(map_comparisons(flt.child, fn))
    return flt


def compared_fields(flt: Filter) -> set[str]:
    """The fields `flt` compares."""
    if isinstance(flt, Comparison):
        return {flt.field}
    if isinstance(flt, And | Or):
        return set().union(*(compared_fields(child) for child in flt.children))
    if isinstance(flt, Not):
        return compared_fields(flt.child)
    return set()


def value_kind(value: Any) -> str:
    """ "number", "bool" or "str" for a filter value."""
    return _KIND_OF_VALUE[kind_of(value)]


def infer_kinds(rows: Iterable[Mapping[str, Any] | None]) -> dict[str, str]:
    """The kind of every metadata key ("number", "bool", "str", or "mixed"); nulls ignored."""
    kinds: dict[str, str] = {}
    for row in rows:
        for key, value in (row or {}).items():
            kind = _KIND_OF_VALUE.get(kind_of(value), "mixed") if value is not None else None
            if kind is not None and kinds.get(key, kind) != kind:
                kind = "mixed"
            if kind is not None:
                kinds[key] = kind
    return kinds


def check_kinds(kinds: Mapping[str, str]) -> dict[str, str]:
    """Validate a field -> kind mapping (kinds: number, bool, str, mixed)."""
    for field, kind in kinds.items():
        if kind not in KINDS:
            raise ValueError(f"field kind {kind!r} for {field!r} is not one of {', '.join(KINDS)}")
    return dict(kinds)


def sampled_kinds(
    declared: Mapping[str, str],
    rows: Iterable[Mapping[str, Any]],
    keys: Iterable[str],
    exhaustive: bool,
) -> dict[str, str]:
    """The kinds of `keys`: `declared` ones, checked against the sampled `rows`, and for
    the others what the rows show when they are every row of the collection.

    A partial sample only proves a key "mixed" (one row beyond it may hold another kind);
    a key no row holds stays unknown. A declared kind the rows contradict is a ValueError.
    """
    keys = sorted(keys)
    seen = infer_kinds({key: row.get(key) for key in keys} for row in rows)
    kinds = dict(declared)
    for key in keys:
        found, claimed = seen.get(key), declared.get(key)
        if claimed is None and (found == "mixed" or (found is not None and exhaustive)):
            kinds[key] = found
        elif claimed not in (None, "mixed") and found not in (None, claimed):
            held = "values of several kinds" if found == "mixed" else f"{found} values"
            raise ValueError(
                f"field_kinds says {key!r} holds {claimed} values, but the collection's rows "
                f"hold {held} there; correct field_kinds or leave {key!r} out to infer it"
            )
    return kinds


def fold_kinds(flt: Filter, kinds: Mapping[str, str]) -> Filter:
    """Fold comparisons whose value kind differs from the field's known (single) kind.

    A positive comparison with a value of another kind matches nothing (FALSE), a negative
    one matches everything (TRUE): exact whenever every stored value has the declared kind.
    """

    def fold(comparison: Comparison) -> Filter:
        kind = kinds.get(comparison.field)
        if kind in (None, "mixed") or value_kind(comparison.values[0]) == kind:
            return comparison
        return TRUE if comparison.op in NEGATIVE_OPS else FALSE

    return map_comparisons(flt, fold)


def _infinite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _finite(comparison: Comparison) -> Filter:
    """The comparison without infinite values (ints stay exact: they are never infinite)."""
    infinite = [float(v) for v in comparison.values if _infinite(v)]
    if comparison.kind != NUMBER or not infinite:
        return comparison
    field, op = comparison.field, comparison.op
    if op in ("lt", "lte", "gt", "gte"):
        if infinite[0] > 0:  # x < inf: any finite number; x >= inf: only inf itself
            return Comparison(field, "lte" if op in ("lt", "lte") else "gt", MAX_FLOAT)
        return Comparison(field, "gte" if op in ("gt", "gte") else "lt", -MAX_FLOAT)
    finite = [v for v in comparison.values if not _infinite(v)]
    parts: list[Filter] = [Comparison(field, "in", tuple(finite))] if finite else []
    parts += [
        Comparison(field, "gt", MAX_FLOAT) if v > 0 else Comparison(field, "lt", -MAX_FLOAT)
        for v in infinite
    ]
    positive = or_(*parts)
    return not_(positive) if op in NEGATIVE_OPS else positive


def finite_bounds(flt: Filter) -> Filter:
    """Replace infinite numbers (which JSON cannot carry) by equivalent finite comparisons."""
    return map_comparisons(flt, _finite)


def split_numbers(values: tuple[Any, ...]) -> tuple[list[int], list[float]]:
    """The ints and the floats of a numeric value list (stores want homogeneous lists)."""
    ints = [v for v in values if isinstance(v, int)]
    floats = [float(v) for v in values if not isinstance(v, int)]
    return ints, floats


def on_int_field(comparison: Comparison, low: int, high: int) -> Filter:
    """The same comparison on an integer field holding `low`..`high`, with integer values
    only (stores will not compare an int field with 2.5): `n >= 7.5` is `n >= 8`, `n == 7.5`
    matches nothing, bounds beyond the type's range are clipped."""
    if comparison.kind != NUMBER:
        return comparison
    field, op = comparison.field, comparison.op
    if op in RANGE_OPS:
        value = comparison.value
        if isinstance(value, float) and not value.is_integer():
            value = math.floor(value) if op in ("lte", "gt") else math.ceil(value)
        value = int(value)
        if value > high:
            return Comparison(field, "gt" if op in ("gt", "gte") else "lte", high)
        if value < low:
            return Comparison(field, "gte" if op in ("gt", "gte") else "lt", low)
        return Comparison(field, op, value)
    whole = [
        v
        for v in comparison.values
        if isinstance(v, int) or (isinstance(v, float) and v.is_integer())
    ]
    ints = tuple(sorted({int(v) for v in whole if low <= v <= high}))
    if not ints:
        return TRUE if op in NEGATIVE_OPS else FALSE
    return Comparison(field, op, ints if op in LIST_OPS else ints[0])


def prepare(flt: Filter, kinds: Mapping[str, str] | None = None) -> Filter:
    """The common preparation: kinds folded, infinite values made finite."""
    if isinstance(flt, Const):
        return flt
    return finite_bounds(fold_kinds(flt, kinds) if kinds else flt)
