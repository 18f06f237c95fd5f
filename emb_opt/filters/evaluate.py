"""`matches`: the reference evaluator (plain Python), the semantics every backend must reproduce."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emb_opt.filters.ir import (
    NEGATIVE_OPS,
    NUMBER,
    ORDER,
    RANGE_OPS,
    And,
    Comparison,
    Const,
    Filter,
    Not,
    Or,
    kind_of,
)
from emb_opt.filters.parse import parse


def matches(flt: Filter | Mapping[str, Any] | None, metadata: Mapping[str, Any] | None) -> bool:
    """Whether an item's metadata satisfies the filter (plain forms are parsed first).

    Missing and null (None) fields fail every positive comparison and pass `$ne`/`$nin`;
    bool is not a number; int and float compare numerically (exactly, as Python does).
    """
    return _eval(parse(flt), metadata if metadata is not None else {})


def _eval(flt: Filter, metadata: Mapping[str, Any]) -> bool:
    if isinstance(flt, Comparison):
        found = _positive(flt, metadata.get(flt.field))
        return not found if flt.op in NEGATIVE_OPS else found
    if isinstance(flt, And):
        return all(_eval(child, metadata) for child in flt.children)
    if isinstance(flt, Or):
        return any(_eval(child, metadata) for child in flt.children)
    if isinstance(flt, Not):
        return not _eval(flt.child, metadata)
    if isinstance(flt, Const):
        return flt.value
    raise TypeError(f"expected a filter node, got {flt!r}")


def _positive(comparison: Comparison, stored: Any) -> bool:
    """The positive form of the comparison (`ne` as `eq`, `nin` as `in`) on one stored value."""
    kind = kind_of(stored)
    if comparison.op in RANGE_OPS:
        return kind == NUMBER and bool(ORDER[comparison.op](stored, comparison.value))
    if kind != comparison.kind:
        return False
    return any(bool(stored == value) for value in comparison.values)
