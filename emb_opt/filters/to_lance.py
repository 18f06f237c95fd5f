"""Compile the filter IR to a LanceDB SQL `where` clause, run with `prefilter=True`.

No value is pasted in unescaped: strings are single-quoted with quotes doubled (Lance reads
backslashes literally), numbers and bools are written by Python; field names are validated
identifiers, in backticks. A LanceDB table has an Arrow schema, so the compiler knows each
column's type (`lance_columns`) and keeps the reference semantics:

- a comparison with a value of another kind, or on a field that is no scalar column of the
  table (absent, the id or vector column, a list or struct...), folds to a constant;
- negative forms (`$ne`, `$nin`, a negated range) are `(col IS NULL OR NOT (...))`: in SQL
  the NOT of a null comparison is null, while `$ne` is true for null;
- Lance casts a literal to its column's type: integer columns get integer values
  (`n >= 7.5` is `n >= 8`), float32 columns values rounded exactly (`x <= 0.1` is
  `x < 0.1f`, whose float32 value is above 0.1);
- Lance orders NaN above every number (and infinity), so `>` and `>=` on a float column
  add `col <= inf`; zeros are written so that -0.0 equals 0.0 also where Lance orders it
  below (before 0.40);
- the forms are those Lance's scalar indexes answer: `col = v`, `col IN (...)`, ranges,
  `IS NULL`, and AND / OR / NOT of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from emb_opt.errors import FilterError
from emb_opt.filters._native import map_comparisons, on_int_field, prepare
from emb_opt.filters.ir import (
    FALSE,
    LIST_OPS,
    NEGATIVE_OPS,
    NUMBER,
    RANGE_OPS,
    TRUE,
    And,
    Comparison,
    Filter,
    Not,
    Or,
    compare,
    push_not,
)

_SQL_OPS = {
    "eq": "=",
    "ne": "=",
    "in": "=",
    "nin": "=",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
}
# a bound rounded up (down) to the column's float type: the op that keeps the same rows
_ROUNDED_UP = {"lt": "lt", "lte": "lt", "gt": "gte", "gte": "gte"}
_ROUNDED_DOWN = {"lt": "lte", "lte": "lte", "gt": "gt", "gte": "gt"}


@dataclass(frozen=True)
class LanceColumn:
    """A column's kind ("int", "float", "bool", "str"; None: not a scalar, matches no
    comparison) and, for numbers, its numpy dtype."""

    kind: str | None
    dtype: np.dtype | None = None


def lance_columns(schema: Any, skip: Iterable[str] = ()) -> dict[str, LanceColumn]:
    """The filterable columns of an Arrow schema (`skip`: the id and vector columns)."""
    import pyarrow as pa

    columns = {}
    for field in schema:
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if pa.types.is_boolean(kind):
            columns[field.name] = LanceColumn("bool")
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            number = "int" if pa.types.is_integer(kind) else "float"
            columns[field.name] = LanceColumn(number, np.dtype(kind.to_pandas_dtype()))
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            columns[field.name] = LanceColumn("str")
        else:
            columns[field.name] = LanceColumn(None)
    for name in skip:
        columns.pop(name, None)
    return columns


def quote(text: str) -> str:
    """A single-quoted SQL string literal that reads back as exactly `text`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterError(f"{text!r} is not valid unicode (lone surrogate)") from None
    return "'" + text.replace("'", "''") + "'"


def to_lance(flt: Filter, columns: Mapping[str, LanceColumn]) -> str | None:
    """A `where` clause equivalent to `flt` on a table with these columns; None for TRUE.

    FALSE has no form (callers answer it without a query); `lance_filter` tells first.
    """
    return render_lance(lance_filter(flt, columns), columns)


def render_lance(folded: Filter, columns: Mapping[str, LanceColumn]) -> str | None:
    """`to_lance` for a filter `lance_filter` has already folded for these columns."""
    prepared = push_not(folded)  # `Not` then only wraps ranges
    if prepared == TRUE:
        return None
    if prepared == FALSE:
        raise ValueError("an always-false filter has no LanceDB form; answer it without a query")
    return _render(prepared, columns)


def lance_filter(flt: Filter, columns: Mapping[str, LanceColumn]) -> Filter:
    """`flt` folded for these columns (it may become TRUE or FALSE)."""
    kinds = {
        name: "number" if column.kind in ("int", "float") else column.kind
        for name, column in columns.items()
        if column.kind is not None
    }

    def adapt(comparison: Comparison) -> Filter:
        column = columns.get(comparison.field, LanceColumn(None))
        if column.kind is None:  # missing in every row, or never a scalar
            return TRUE if comparison.op in NEGATIVE_OPS else FALSE
        if column.kind == "int" and column.dtype is not None:
            limits = np.iinfo(column.dtype)
            return on_int_field(comparison, int(limits.min), int(limits.max))
        if column.kind == "float" and column.dtype is not None:
            return _on_float_field(comparison, column.dtype)
        return comparison

    return map_comparisons(prepare(flt, kinds), adapt)


def _nearest(value: int | float, dtype: np.dtype) -> float:
    """The value of the float type nearest `value` (+-inf beyond its range)."""
    try:
        double = float(value)
    except OverflowError:  # an int beyond every float
        return math.inf if value > 0 else -math.inf
    with np.errstate(over="ignore"):
        return float(dtype.type(double))


def _on_float_field(comparison: Comparison, dtype: np.dtype) -> Filter:
    """The same comparison with values the column's float type holds exactly."""
    if comparison.kind != NUMBER:
        return comparison
    field, op = comparison.field, str(comparison.op)
    numbers = [v for v in comparison.values if isinstance(v, int | float)]
    if op in RANGE_OPS:
        bound = _nearest(numbers[0], dtype)
        if bound != numbers[0]:  # no value of the type lies between the two
            op = (_ROUNDED_UP if bound > numbers[0] else _ROUNDED_DOWN)[op]
        if math.isinf(bound):  # x < inf: any finite x; x >= inf: x is inf; likewise -inf
            op = {"lt": "lte", "gte": "gt", "lte": "lt", "gt": "gte"}[op]
            bound = math.copysign(float(np.finfo(dtype).max), bound)
        return compare(field, op, bound)
    exact = sorted({float(v) for v in numbers if _nearest(v, dtype) == v})
    if not exact:  # no stored value can equal these
        return TRUE if op in NEGATIVE_OPS else FALSE
    return compare(field, op, exact if op in LIST_OPS else exact[0])


def _render(flt: Filter, columns: Mapping[str, LanceColumn]) -> str:
    if isinstance(flt, Comparison):
        positive = _positive(flt, columns[flt.field])
        return _negative(flt.field, positive) if flt.op in NEGATIVE_OPS else positive
    if isinstance(flt, And | Or):
        joiner = " AND " if isinstance(flt, And) else " OR "
        return "(" + joiner.join(_render(child, columns) for child in flt.children) + ")"
    if isinstance(flt, Not) and isinstance(flt.child, Comparison):  # a negated range
        return _negative(flt.child.field, _render(flt.child, columns))
    raise ValueError(f"cannot compile {flt!r} to a LanceDB where clause")


def _positive(comparison: Comparison, column: LanceColumn) -> str:
    """The comparison in its positive form (`ne` as `eq`, `nin` as `in`)."""
    ref, op, values = f"`{comparison.field}`", comparison.op, list(comparison.values)
    if column.kind == "float" and 0 in values:  # Lance < 0.40 orders -0.0 below 0.0
        if op in RANGE_OPS:
            values = [-0.0 if op in ("lt", "gte") else 0.0]
        else:
            values = [v for v in values if v != 0] + [0.0, -0.0]
    if op not in RANGE_OPS and len(values) > 1:
        return f"{ref} IN (" + ", ".join(map(sql_literal, values)) + ")"
    sql = f"{ref} {_SQL_OPS[op]} {sql_literal(values[0])}"
    if column.kind == "float" and op in ("gt", "gte"):  # NaN sorts above inf
        return f"({sql} AND {ref} <= CAST('inf' AS DOUBLE))"
    return sql


def _negative(field: str, positive: str) -> str:
    return f"(`{field}` IS NULL OR NOT ({positive}))"


def sql_literal(value: Any) -> str:
    """A SQL literal for a bool, number or string value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and not -(2**63) < value < 2**63:  # else read as a float
        return f"CAST('{value}' AS {'BIGINT UNSIGNED' if value > 0 else 'BIGINT'})"
    if isinstance(value, int | float):
        return repr(value)
    return quote(value)
