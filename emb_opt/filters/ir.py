"""The filter IR: immutable, hashable nodes, folding constructors, `to_plain` and `negate`.

Invariants every node satisfies (the raw constructors check them, the smart constructors
`and_`, `or_`, `not_`, `compare` fold into them), so backends can rely on them:

- `And`/`Or` have at least two children, none a `Const`, none of their own type;
- `Not` wraps neither a `Const` nor a `Not`;
- `Comparison` has a valid field name, a known op and a normalised value: a scalar for
  eq/ne, a number (not bool, not NaN) for ranges, a sorted duplicate-free non-empty tuple of
  one kind for in/nin;
- `Const` (`TRUE`/`FALSE`) only ever appears as a whole filter.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np

from emb_opt.errors import FilterError

Op: TypeAlias = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "nin"]
Scalar: TypeAlias = str | int | float | bool

OPS: tuple[str, ...] = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "nin")
RANGE_OPS: frozenset[str] = frozenset({"lt", "lte", "gt", "gte"})
LIST_OPS: frozenset[str] = frozenset({"in", "nin"})
NEGATIVE_OPS: frozenset[str] = frozenset({"ne", "nin"})
ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Kinds of a stored or filter value. Numbers are int and float (not bool) and compare numerically.
MISSING, BOOL, NUMBER, STR, OTHER = 0, 1, 2, 3, 4
KIND_NAMES = {MISSING: "null", BOOL: "bool", NUMBER: "number", STR: "str", OTHER: "other"}


def kind_of(value: Any) -> int:
    """The kind of a value: MISSING (None), BOOL, NUMBER (int/float, numpy too), STR or OTHER."""
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return BOOL
    if isinstance(value, int | float | np.integer | np.floating):
        return NUMBER
    if isinstance(value, str):
        return STR
    return OTHER


def show(value: Any, limit: int = 60) -> str:
    """A short repr of a value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def join(path: str, part: str) -> str:
    """Extend an error path (`$and[1]` + `price` -> `$and[1].price`)."""
    return f"{path}.{part}" if path else part


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def check_field(name: Any, path: str = "") -> str:
    """Validate a field name and return it as a plain str."""
    if not isinstance(name, str):
        raise FilterError(f"{_at(path)}expected a field name (str), got {show(name)}")
    if not _FIELD_RE.fullmatch(name):
        raise FilterError(
            f"{_at(path)}invalid field name {name!r}; "
            "field names match [A-Za-z_][A-Za-z0-9_]* (no dots, spaces or '$')"
        )
    return str(name)


def check_scalar(value: Any, where: str) -> Scalar:
    """Validate one filter value (str, int, float or bool) and normalise numpy scalars."""
    kind = kind_of(value)
    if kind == MISSING:
        raise FilterError(
            f"{_at(where)}None is not a filter value; missing and null fields never match "
            "$eq/$in/ranges and always match $ne/$nin, so compare with a real value "
            "(e.g. {'field': {'$ne': value}})"
        )
    if kind == BOOL:
        return bool(value)
    if kind == STR:
        return str(value)
    if kind == NUMBER:
        number = int(value) if isinstance(value, int | np.integer) else float(value)
        if isinstance(number, float) and math.isnan(number):
            raise FilterError(f"{_at(where)}NaN is not a filter value (it equals nothing)")
        return number
    raise FilterError(f"{_at(where)}expected a str, int, float or bool, got {show(value)}")


def _check_number(value: Any, where: str) -> int | float:
    kind = kind_of(value)
    if kind == BOOL:
        raise FilterError(f"{where}: expected a number, got {value!r} (bool is not a number)")
    if kind not in (NUMBER, MISSING):
        raise FilterError(f"{where}: expected a number, got {show(value)}")
    return check_scalar(value, where)  # type: ignore[return-value]


def _check_values(values: Any, where: str) -> tuple[Scalar, ...]:
    if not isinstance(values, list | tuple):
        raise FilterError(f"{where}: expected a list of values, got {show(values)}")
    checked = [check_scalar(v, f"{where}[{i}]") for i, v in enumerate(values)]
    for i, value in enumerate(checked[1:], start=1):
        if kind_of(value) != kind_of(checked[0]):
            raise FilterError(
                f"{where}[{i}]: expected values of one kind (all str, all bool or all numbers), "
                f"got {KIND_NAMES[kind_of(value)]} {show(value)} after "
                f"{KIND_NAMES[kind_of(checked[0])]} {show(checked[0])}"
            )
    return tuple(sorted(dict.fromkeys(checked)))


def check_comparison(field: Any, op: Any, value: Any, path: str = "") -> Any:
    """Validate a comparison's parts and return its normalised value (errors carry `path`)."""
    check_field(field, path)
    if op not in OPS:
        raise FilterError(
            f"{join(path, field)}: unknown operator {op!r}; expected one of {', '.join(OPS)}"
        )
    where = join(join(path, field), f"${op}")
    if op in RANGE_OPS:
        return _check_number(value, where)
    if op in LIST_OPS:
        return _check_values(value, where)
    return check_scalar(value, where)


class _Node:
    """Mixin: `&`, `|` and `~` build folded filters; a filter has no truth value."""

    __slots__ = ()

    def __and__(self, other: object) -> Filter:
        return and_(self, other) if isinstance(other, NODE_TYPES) else NotImplemented  # type: ignore[arg-type]

    def __or__(self, other: object) -> Filter:
        return or_(self, other) if isinstance(other, NODE_TYPES) else NotImplemented  # type: ignore[arg-type]

    def __invert__(self) -> Filter:
        return not_(self)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        raise TypeError(
            "a filter has no truth value: combine filters with &, | and ~ (not and/or/not), "
            "write 0 < F('x') < 1 as (F('x') > 0) & (F('x') < 1), and test constants with == TRUE"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Comparison(_Node):
    """`field op value`; `value` is a scalar, or a sorted tuple of one kind for in/nin."""

    field: str
    op: Op
    value: Any

    def __post_init__(self) -> None:
        value = check_comparison(self.field, self.op, self.value)
        if self.op in LIST_OPS and not value:
            raise FilterError(
                f"{self.field}.${self.op}: empty list; use compare() or parse(), which fold it "
                "to FALSE ($in) or TRUE ($nin)"
            )
        object.__setattr__(self, "field", str(self.field))
        object.__setattr__(self, "value", value)

    @property
    def kind(self) -> int:
        """The kind of the value (BOOL, NUMBER or STR); for in/nin, of every listed value."""
        return kind_of(self.value[0] if isinstance(self.value, tuple) else self.value)

    @property
    def values(self) -> tuple[Scalar, ...]:
        """The value(s) as a tuple: the list for in/nin, a 1-tuple otherwise."""
        return self.value if isinstance(self.value, tuple) else (self.value,)

    def _key(self) -> tuple[Any, ...]:
        # The kind keeps True apart from 1 (Python says True == 1 and hash(True) == hash(1)).
        return (self.field, self.op, self.kind, self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Comparison):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _check_children(node: And | Or) -> None:
    children = tuple(node.children)
    object.__setattr__(node, "children", children)
    name = type(node).__name__
    if len(children) < 2:
        raise FilterError(f"{name} needs at least two children; use {name.lower()}_() to fold")
    for child in children:
        if not isinstance(child, NODE_TYPES):
            raise TypeError(f"{name} children must be filter nodes, got {show(child)}")
        if isinstance(child, Const | type(node)):
            raise FilterError(f"{name} child {child!r} is not folded; use {name.lower()}_()")


@dataclass(frozen=True, slots=True)
class And(_Node):
    """All children match (at least two, none `Const`, none `And`)."""

    children: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_children(self)


@dataclass(frozen=True, slots=True)
class Or(_Node):
    """At least one child matches (at least two, none `Const`, none `Or`)."""

    children: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_children(self)


@dataclass(frozen=True, slots=True)
class Not(_Node):
    """The boolean complement of one child (neither `Const` nor `Not`)."""

    child: Filter

    def __post_init__(self) -> None:
        if not isinstance(self.child, NODE_TYPES):
            raise TypeError(f"Not child must be a filter node, got {show(self.child)}")
        if isinstance(self.child, Const | Not):
            raise FilterError(f"Not child {self.child!r} is not folded; use not_()")


@dataclass(frozen=True, slots=True)
class Const(_Node):
    """Always true (`TRUE`, no filter) or always false (`FALSE`, no result)."""

    value: bool

    def __post_init__(self) -> None:
        if not isinstance(self.value, bool):
            raise TypeError(f"Const value must be a bool, got {show(self.value)}")


Filter: TypeAlias = Comparison | And | Or | Not | Const
NODE_TYPES = (Comparison, And, Or, Not, Const)
TRUE = Const(True)
FALSE = Const(False)


def _require_node(child: Any) -> Filter:
    if not isinstance(child, NODE_TYPES):
        raise TypeError(f"expected a filter node, got {show(child)}; use parse() for plain data")
    return child


def _combine(cls: type[And] | type[Or], children: tuple[Any, ...], absorbing: Const) -> Filter:
    flat: dict[Filter, None] = {}
    for child in map(_require_node, children):
        if isinstance(child, Const):
            if child.value == absorbing.value:
                return absorbing
            continue
        for part in child.children if isinstance(child, cls) else (child,):
            flat.setdefault(part)
    if not flat:
        return not_(absorbing)
    if len(flat) == 1:
        return next(iter(flat))
    return cls(tuple(flat))


def and_(*children: Filter) -> Filter:
    """AND, folded: FALSE absorbs, TRUE drops out, nested And flattens, one child unwraps."""
    return _combine(And, children, FALSE)


def or_(*children: Filter) -> Filter:
    """OR, folded: TRUE absorbs, FALSE drops out, nested Or flattens, one child unwraps."""
    return _combine(Or, children, TRUE)


def not_(child: Filter) -> Filter:
    """NOT, folded: constants flip and `not not x` is `x` (no other rewriting)."""
    child = _require_node(child)
    if isinstance(child, Const):
        return FALSE if child.value else TRUE
    if isinstance(child, Not):
        return child.child
    return Not(child)


def compare(field: str, op: str, value: Any, path: str = "") -> Filter:
    """A validated comparison; `in []` folds to FALSE and `nin []` to TRUE."""
    value = check_comparison(field, op, value, path)
    if op in LIST_OPS and not value:
        return FALSE if op == "in" else TRUE
    return Comparison(field, op, value)  # type: ignore[arg-type]


_FLIP = {"eq": "ne", "ne": "eq", "in": "nin", "nin": "in"}


def negate(flt: Filter) -> Filter:
    """The complement of `flt` with NOT pushed down wherever that stays exact.

    eq <-> ne, in <-> nin, De Morgan through And/Or, `not not x` -> `x`, constants flip. A
    range keeps `Not(Comparison)`: `not (x < 5)` is `x >= 5 or x missing/null/non-number`.
    """
    if isinstance(flt, Comparison):
        if flt.op in _FLIP:
            return Comparison(flt.field, _FLIP[flt.op], flt.value)  # type: ignore[arg-type]
        return Not(flt)
    if isinstance(flt, And):
        return or_(*map(negate, flt.children))
    if isinstance(flt, Or):
        return and_(*map(negate, flt.children))
    if isinstance(flt, Not):
        return push_not(flt.child)
    return not_(_require_node(flt))


def push_not(flt: Filter) -> Filter:
    """An equivalent filter whose only `Not` nodes wrap range comparisons."""
    if isinstance(flt, Not):
        return negate(flt.child)
    if isinstance(flt, And):
        return and_(*map(push_not, flt.children))
    if isinstance(flt, Or):
        return or_(*map(push_not, flt.children))
    return _require_node(flt)


def to_plain(flt: Filter) -> dict[str, Any]:
    """The plain-data (Mongo-style) form; `parse(to_plain(f)) == f`.

    TRUE becomes `{}` and FALSE becomes `{"_": {"$in": []}}` (`$in: []` is the grammar's
    only spelling of "matches nothing"; MongoDB reads it the same way).
    """
    if isinstance(flt, Comparison):
        if flt.op == "eq":
            return {flt.field: flt.value}
        value = list(flt.value) if isinstance(flt.value, tuple) else flt.value
        return {flt.field: {f"${flt.op}": value}}
    if isinstance(flt, And | Or):
        key = "$and" if isinstance(flt, And) else "$or"
        return {key: [to_plain(child) for child in flt.children]}
    if isinstance(flt, Not):
        return {"$not": to_plain(flt.child)}
    if isinstance(flt, Const):
        return {} if flt.value else {"_": {"$in": []}}
    raise TypeError(f"expected a filter node, got {show(flt)}")
