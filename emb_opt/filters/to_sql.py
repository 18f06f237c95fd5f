"""Compile the filter IR to a parameterised PostgreSQL condition (`psycopg.sql`).

Metadata lives in typed columns, in one JSONB column, or both (a column shadows a JSONB key
of the same name). Values always travel as bind parameters (`%(p0)s`); column names are
validated identifiers, quoted by `sql.Identifier`; a JSONB key is a quoted literal of a
validated field name.

Semantics (those of `emb_opt.filters.matches`):
- each comparison is written in its positive form (`$ne` as `$eq`, `$nin` as `$in`); the
  negative forms and a negated range are `(positive) IS NOT TRUE`, so SQL's NULL (a NULL
  column, a missing key) fails the positive form and passes its complement;
- a typed column holds one kind (int, float, bool or text): a value of another kind, or a
  string no PostgreSQL text can hold (NUL), matches nothing; a field that is neither a
  column nor, with a JSONB column, a key is missing everywhere; comparing a column of
  another type (numeric, timestamp, arrays, ...) raises `UnsupportedFilterError`;
- ints and floats compare exactly: a float against an integer column binds as `numeric`,
  an int that no double equals against a float column becomes the equivalent double
  bound, and NaN in a float column fails every comparison (PostgreSQL sorts it last);
- JSONB values compare as jsonb, which keeps kinds apart (`true` is not `1`, `1 = 1.0`);
  ranges first check `jsonb_typeof(...) = 'number'`. Numbers beyond 2**53, where JSON's
  decimals and Python's doubles part ways, compare as the value psycopg reads: exact
  `numeric` for a JSON integer, a double for a JSON number with a fraction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from emb_opt.errors import UnsupportedFilterError
from emb_opt.filters._native import prepare
from emb_opt.filters.ir import (
    BOOL,
    FALSE,
    NEGATIVE_OPS,
    NUMBER,
    RANGE_OPS,
    STR,
    TRUE,
    And,
    Comparison,
    Filter,
    Not,
    Or,
    push_not,
)

COLUMN_KINDS = {
    **dict.fromkeys(("int2", "int4", "int8"), "int"),
    **dict.fromkeys(("float4", "float8"), "float"),
    "bool": "bool",
    **dict.fromkeys(("text", "varchar"), "str"),
}
_VALUE_KINDS = {"int": NUMBER, "float": NUMBER, "bool": BOOL, "str": STR}
_SQL_OPS = {"eq": "=", "in": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_POSITIVE = {"ne": "eq", "nin": "in"}
INT8 = (-(2**63), 2**63 - 1)
EXACT_IN_JSON = 2**53  # beyond it a JSON decimal and the double psycopg reads may differ


@dataclass(frozen=True)
class SqlSchema:
    """Where metadata lives: typed `columns` (name -> PostgreSQL type name, e.g. "int8")
    and the JSONB column holding the other keys, if any."""

    columns: Mapping[str, str] = field(default_factory=dict)
    json_column: str | None = None


def to_sql(flt: Filter, schema: SqlSchema) -> tuple[sql.Composable, dict[str, Any]]:
    """(condition, params): a `psycopg.sql.Composable` equivalent to `flt` and its named
    parameters; `TRUE` for no filter. FALSE has no form (callers answer it without a query).
    """
    prepared = push_not(prepare(flt))  # `Not` then only wraps ranges
    if prepared == TRUE:
        return sql.SQL("TRUE"), {}
    if prepared == FALSE:
        raise ValueError("an always-false filter has no SQL form; answer it without a query")
    renderer = _Renderer(schema)
    return renderer.render(prepared), renderer.params


def is_double(value: int | float) -> bool:
    """Whether a double equals the number exactly."""
    try:
        return isinstance(value, float) or float(value) == value
    except OverflowError:
        return False


def double_comparison(op: str, values: Sequence[int | float]) -> tuple[str, list[float]] | None:
    """`x op values` for every double x (positive op) with double values only; None when no
    double can match. An int between two doubles becomes the bound on the lower one."""
    if op in ("eq", "in"):
        kept = [float(v) for v in values if is_double(v)]
        return (op, kept) if kept else None
    value = values[0]
    if is_double(value):
        return op, [float(value)]
    try:
        near = float(value)
    except OverflowError:
        near = math.inf if value > 0 else -math.inf
    below = near if near < value else math.nextafter(near, -math.inf)
    return ("lte" if op in ("lt", "lte") else "gt"), [below]


def _storable(value: Any) -> bool:
    """Whether PostgreSQL text (and JSON) can hold the string: no NUL, valid unicode."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Renderer:
    def __init__(self, schema: SqlSchema) -> None:
        self.schema = schema
        self.params: dict[str, Any] = {}

    def render(self, flt: Filter) -> Any:
        if isinstance(flt, Comparison):
            positive = self._positive(flt)
            return self._not(positive) if flt.op in NEGATIVE_OPS else positive
        if isinstance(flt, And | Or):
            joiner = sql.SQL(" AND " if isinstance(flt, And) else " OR ")
            return sql.SQL("({})").format(joiner.join(self.render(c) for c in flt.children))
        if isinstance(flt, Not) and isinstance(flt.child, Comparison):  # a negated range
            return self._not(self._positive(flt.child))
        raise ValueError(f"cannot compile {flt!r} to SQL")

    def _not(self, positive: Any) -> Any:
        return sql.SQL("({}) IS NOT TRUE").format(positive)

    def _positive(self, comparison: Comparison) -> Any:
        """The positive form: true exactly where `matches` says the positive op holds."""
        op = _POSITIVE.get(comparison.op, comparison.op)
        values: Sequence[Any] = comparison.values
        if comparison.kind == STR:
            values = [v for v in values if _storable(v)]
            if not values:
                return sql.SQL("FALSE")
        name = comparison.field
        if name in self.schema.columns:
            return self._column(name, op, comparison.kind, values)
        if self.schema.json_column is None:
            return sql.SQL("NULL")  # missing on every row
        ref = sql.SQL("({} -> {})").format(
            sql.Identifier(self.schema.json_column), sql.Literal(name)
        )
        return self._json(ref, op, comparison.kind, values)

    def _column(self, name: str, op: str, kind: int, values: Sequence[Any]) -> Any:
        type_name = self.schema.columns[name]
        column_kind = COLUMN_KINDS.get(type_name)
        if column_kind is None:
            raise UnsupportedFilterError(
                f"field {name!r} is a {type_name} column; filters compare number, bool and "
                f"text columns ({', '.join(COLUMN_KINDS)}) and JSONB keys"
            )
        if _VALUE_KINDS[column_kind] != kind:
            return sql.SQL("FALSE")
        ref = sql.Identifier(name)
        if column_kind == "float":
            doubles = double_comparison(op, values)
            if doubles is None:
                return sql.SQL("FALSE")
            op, values = doubles
            if op in ("gt", "gte"):  # NaN sorts above every number
                return sql.SQL("({} AND {} <> 'NaN'::float8)").format(
                    self._compare(ref, op, values, "float8"), ref
                )
            return self._compare(ref, op, values, "float8")
        if column_kind == "int":
            return self._compare(ref, op, *_integer_values(values))
        return self._compare(ref, op, values, "bool" if kind == BOOL else "text")

    def _json(self, ref: sql.Composable, op: str, kind: int, values: Sequence[Any]) -> Any:
        if kind == NUMBER and any(abs(v) > EXACT_IN_JSON for v in values):
            return self._json_number(ref, op, values)
        compared = self._compare(ref, op, [Jsonb(v) for v in values], "jsonb")
        if op in RANGE_OPS:
            return sql.SQL("(jsonb_typeof({}) = 'number' AND {})").format(ref, compared)
        return compared

    def _json_number(self, ref: Any, op: str, values: Sequence[Any]) -> Any:
        """Exact for any size: a JSON integer as numeric, a fraction as the double it reads as."""
        number = sql.SQL("({})::numeric").format(ref)
        whole = self._compare(number, op, [Decimal(v) for v in values], "numeric")
        doubles = double_comparison(op, values)
        fraction = (
            sql.SQL("FALSE")
            if doubles is None
            else self._compare(sql.SQL("({})::float8").format(ref), *doubles, "float8")
        )
        return sql.SQL(
            "(CASE jsonb_typeof({}) WHEN 'number' THEN "
            "CASE WHEN scale({}) = 0 THEN {} ELSE {} END END)"
        ).format(ref, number, whole, fraction)

    def _compare(self, ref: Any, op: str, values: Sequence[Any], type_name: str) -> Any:
        """`ref op value`, or `ref = ANY(values)` for a list, the values bound as `type_name`."""
        if op == "in" and len(values) > 1:
            array = sql.SQL("{}::{}[]").format(self._param(list(values)), sql.SQL(type_name))
            return sql.SQL("{} = ANY({})").format(ref, array)
        value = sql.SQL("{}::{}").format(self._param(values[0]), sql.SQL(type_name))
        return sql.SQL("{} {} {}").format(ref, sql.SQL(_SQL_OPS[op]), value)

    def _param(self, value: Any) -> Any:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)


def _integer_values(values: Sequence[Any]) -> tuple[list[Any], str]:
    """The values and their type against an integer column: int8 when every value is an
    int8, else exact `numeric` (so 7.5 compares as 7.5, not as a rounded integer)."""
    if all(isinstance(v, int) and INT8[0] <= v <= INT8[1] for v in values):
        return list(values), "int8"
    return [Decimal(v) for v in values], "numeric"
