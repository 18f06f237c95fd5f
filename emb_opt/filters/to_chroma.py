"""Compile the filter IR to a Chroma `where` dict.

Chroma's grammar has no `$not` and no "field exists", wants one key per dict, at least two
children under `$and`/`$or`, and homogeneous `$in` lists (1 and 2.5 count as mixed). So:

- negation is pushed down (De Morgan; `$eq` <-> `$ne`, `$in` <-> `$nin`): Chroma's
  `$ne`/`$nin` are true for a missing field (chromadb >= 0.5.12), as ours are;
- a negated range (`not x < 5`, true when `x` is missing) has no exact form and raises
  `UnsupportedFilterError` (never approximated by `x >= 5`);
- numeric lists mixing ints and floats split into an int list and a float list;
- Chroma compares int metadata with a float value truncated toward zero (`n >= 7.5`
  matches 7, `n == 7.5` matches 7): a non-integral value v gets a guard on t = trunc(v),
  the only integer it can misjudge (`n >= 7.5 and n != 7`, `n < 7.5 or n == 7`);
- TRUE compiles to None (`where={}` is an error); single children never get wrapped.
"""

from __future__ import annotations

from typing import Any

from emb_opt.errors import UnsupportedFilterError
from emb_opt.filters._native import prepare, split_numbers
from emb_opt.filters.ir import (
    FALSE,
    NEGATIVE_OPS,
    NUMBER,
    ORDER,
    RANGE_OPS,
    TRUE,
    And,
    Comparison,
    Filter,
    Not,
    Or,
    push_not,
    to_plain,
)


def to_chroma(flt: Filter) -> dict[str, Any] | None:
    """A `where` dict equivalent to `flt`, or None for TRUE (no filter).

    Raises `UnsupportedFilterError` for a negated range; FALSE has no native form.
    """
    prepared = push_not(prepare(flt))
    if prepared == TRUE:
        return None
    if prepared == FALSE:
        raise ValueError("an always-false filter has no Chroma form; answer it without a query")
    return _where(prepared)


def _where(flt: Filter) -> dict[str, Any]:
    if isinstance(flt, Comparison):
        return _comparison(flt)
    if isinstance(flt, And | Or):
        key = "$and" if isinstance(flt, And) else "$or"
        return {key: [_where(child) for child in flt.children]}
    if isinstance(flt, Not):
        raise UnsupportedFilterError(
            f"Chroma cannot express {to_plain(flt)!r} exactly: a negated range is also true "
            "when the field is missing, and Chroma has neither $not nor an 'exists' test; "
            "write the range the other way round if the field is always present"
        )
    raise ValueError(f"cannot compile {flt!r} to a Chroma where clause")


def _comparison(comparison: Comparison) -> dict[str, Any]:
    field, op = comparison.field, comparison.op
    if comparison.kind != NUMBER:
        value = list(comparison.values) if op in ("in", "nin") else comparison.value
        return {field: {f"${op}": value}}
    if op in RANGE_OPS:
        return _range(field, op, comparison.value)
    return _membership(field, op in NEGATIVE_OPS, comparison.values)


def _range(field: str, op: str, value: float) -> dict[str, Any]:
    where = {field: {f"${op}": value}}
    if isinstance(value, int) or value.is_integer():
        return where
    trunc = int(value)  # what Chroma compares int metadata with
    says = op in ("gte", "lte")  # Chroma's answer for an int equal to trunc
    truth = bool(ORDER[op](trunc, value))
    if says and not truth:
        return {"$and": [where, {field: {"$ne": trunc}}]}
    if truth and not says:
        return {"$or": [where, {field: {"$eq": trunc}}]}
    return where


def _membership(field: str, negative: bool, values: tuple[Any, ...]) -> dict[str, Any]:
    """`field` in `values` (numbers), or its complement; lists kept homogeneous."""
    ints, floats = split_numbers(values)
    whole = [v for v in floats if v.is_integer()]
    fractional = [v for v in floats if not v.is_integer()]
    member = "$nin" if negative else "$in"
    parts = [_listed(field, member, part) for part in (ints, whole) if part]
    if fractional:  # exclude the ints Chroma would match by truncating
        truncs = sorted({int(v) for v in fractional})
        guard = _listed(field, "$in" if negative else "$nin", truncs)
        joiner = "$or" if negative else "$and"
        parts.append({joiner: [_listed(field, member, fractional), guard]})
    if len(parts) == 1:
        return parts[0]
    return {"$and" if negative else "$or": parts}


def _listed(field: str, op: str, values: list[Any]) -> dict[str, Any]:
    if len(values) == 1:
        return {field: {"$ne" if op == "$nin" else "$eq": values[0]}}
    return {field: {op: values}}
