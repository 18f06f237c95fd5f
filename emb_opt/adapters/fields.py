"""What a source stores beside its vectors, and chosen fields read as columns.

`profile` turns a sample of metadata rows (and the kinds a backend's schema declares) into
`StoredField`s: "number" (int or float; a number stored as a string is "text"), "vector" (a
list of numbers, one length on every item), "text", or "other" (bools, mixed kinds, lists of
several lengths, nested objects). `read_column` turns one field of many rows into float64,
NaN where a row lacks it, marking the rows that hold something else; `ColumnReader` does that
for the batches of a projected scan, each field kept to the shape it first had, and raises a
`FieldError` naming the field, the item and the value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from ..errors import FieldError
from ..filters.ir import show
from ..protocols import StoredField

NUMBER, VECTOR, TEXT, OTHER = "number", "vector", "text", "other"
FIELD_SAMPLE = 512  # items `stored_fields` profiles
Shape = tuple[int, ...]  # of one item's value: () for a number, (width,) for a vector
Declared = Mapping[str, tuple[str, int | None]]  # name -> (kind, width; None: the sample says)


def is_number(value: Any) -> bool:
    """An int or float (numpy's too, and Decimal), never a bool."""
    return isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool | np.bool_)


def shape_of(value: Any) -> Shape | None:
    """() for a number, (length,) for a non-empty flat list of numbers, else None."""
    if is_number(value):
        return ()
    if isinstance(value, np.ndarray):
        return value.shape if value.ndim == 1 and len(value) and value.dtype.kind in "iuf" else None
    if isinstance(value, list | tuple) and value and all(map(is_number, value)):
        return (len(value),)
    return None


def _kind(value: Any) -> tuple[str, int]:
    """(kind, width) of one stored value (not None)."""
    shape = shape_of(value)
    if shape == ():
        return NUMBER, 1
    if shape is not None:
        return VECTOR, shape[0]
    return (TEXT, 0) if isinstance(value, str) else (OTHER, 0)


def _key(value: Any) -> Any:
    """A hashable stand-in for a value, equal for equal values (to count distinct ones)."""
    shape = shape_of(value)
    if shape == ():
        number = float(value)
        return "nan" if math.isnan(number) else number
    if shape is not None:
        return tuple(float(x) for x in value)
    return value if isinstance(value, str) else repr(value)


def profile(rows: Sequence[Mapping[str, Any] | None], declared: Declared) -> list[StoredField]:
    """The fields of the sampled metadata `rows` and those the schema `declared`, by name.

    A declared kind wins over the values' (a text column of digits is text); a declared
    vector without a length takes the sampled one, and is "other" if the sample holds
    several lengths.
    """
    sampled = len(rows)
    names = {*declared, *(key for row in rows if row for key in row)}
    found = []
    for name in sorted(names):
        values = [row[name] for row in rows if row and row.get(name) is not None]
        kinds = {_kind(value) for value in values}
        kind, width = _merged(kinds)
        if name in declared:
            kind, length = declared[name]
            if kind == VECTOR and length is None:
                kind, length = (VECTOR, width) if _merged(kinds)[0] == VECTOR else (OTHER, 0)
            width = {NUMBER: 1, VECTOR: length or 0}.get(kind, 0)
        present = len(values) / sampled if sampled else 0.0
        distinct = len({_key(value) for value in values})
        found.append(StoredField(name, kind, width, present, distinct, sampled))
    return found


def _merged(kinds: set[tuple[str, int]]) -> tuple[str, int]:
    """One field's kind from the kinds of its values (none: "other")."""
    return next(iter(kinds)) if len(kinds) == 1 else (OTHER, 0)


class Column(NamedTuple):
    """One field of some rows as float64 (NaN where missing or wrong), and what was wrong."""

    values: np.ndarray  # (rows,) + shape
    shape: Shape | None  # None: no row holds the field (values are (rows,))
    wrong: np.ndarray | None  # bool per row: a value that is no number of the shape


def read_column(values: Sequence[Any], shape: Shape | None = None) -> Column:
    """One field's values (None: missing) as a float64 column: numbers as (n,), vectors as
    (n, width). `shape` is what the field holds (None: what its first present value holds);
    a value of another shape, or no number at all, is NaN and marked `wrong`. `values` may
    be a numeric (n,) or (n, width) array already (NaN: missing)."""
    n = len(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf" and shape is None:
        return Column(values.astype(np.float64), values.shape[1:], None)  # NaN: missing
    kinds = set(map(type, values))
    if shape in (None, ()) and kinds <= {float, int, type(None)} and kinds - {type(None)}:
        try:  # plain numbers, the common case: no per-value checks
            plain = [math.nan if value is None else value for value in values]
            return Column(np.array(plain, dtype=np.float64), (), None)
        except OverflowError:  # an int beyond float64: checked value by value below
            pass
    out: np.ndarray | None = None
    wrong = np.zeros(n, dtype=bool)
    for row, value in enumerate(values):
        if value is None:
            continue
        got = shape_of(value)
        if shape is None and got is not None:
            shape = got
        if got is None or got != shape:
            wrong[row] = True
            continue
        if out is None:
            out = np.full((n, *got), math.nan)
        try:
            out[row] = np.asarray(value, dtype=np.float64)
        except OverflowError:
            wrong[row] = True
    if out is None:
        out = np.full((n, *(shape or ())), math.nan)
    return Column(out, shape, wrong if wrong.any() else None)


def field_error(name: str, item_id: Any, value: Any, shape: Shape | None) -> FieldError:
    """The error for item `item_id`'s value of field `name`, which is not of `shape`."""
    if shape is None:
        expected = "a number or a list of numbers"
    else:
        expected = f"a list of {shape[0]} numbers" if shape else "a number"
    also = "" if shape is None else ", as the field holds on other items"
    return FieldError(
        f"field {name!r} of item {item_id!r} holds {show(value)}: expected {expected}{also}"
    )


class ColumnReader:
    """Reads fields of the metadata rows of one scan's batches as float64 columns; a field
    keeps the shape it first had (or `shapes` gives) from batch to batch."""

    def __init__(self, names: Sequence[str], shapes: Mapping[str, Shape] | None = None) -> None:
        self.names = tuple(names)
        self.shapes: dict[str, Shape] = dict(shapes or {})

    def __call__(
        self, ids: Sequence[Any], rows: Sequence[Mapping[str, Any] | None] | None
    ) -> dict[str, np.ndarray]:
        """The columns of one batch (rows None: no item holds any field)."""
        rows = rows if rows is not None else [None] * len(ids)
        columns = {}
        for name in self.names:
            values = [row.get(name) if row else None for row in rows]
            column = read_column(values, self.shapes.get(name))
            if column.wrong is not None:
                at = int(np.flatnonzero(column.wrong)[0])
                raise field_error(name, ids[at], values[at], column.shape)
            if column.shape is not None:
                self.shapes[name] = column.shape
            columns[name] = column.values
        return columns


def check_fields(fields: Any) -> tuple[str, ...]:
    """The field names of `scan(fields=...)`: a sequence of str (repeats dropped)."""
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise ValueError(
            f"fields must be a list of field names, got {show(fields)}"
            + (f" (for one field, pass [{fields!r}])" if isinstance(fields, str) else "")
        )
    names = tuple(dict.fromkeys(fields))
    if bad := next((name for name in names if not isinstance(name, str) or not name), None):
        raise ValueError(f"fields must be non-empty str field names, got {show(bad)}")
    return names


def declared_shapes(declared: Declared) -> dict[str, Shape]:
    """The shapes of the number and vector fields a schema declares with their width."""
    shapes: dict[str, Shape] = {}
    for name, (kind, width) in declared.items():
        if kind == NUMBER:
            shapes[name] = ()
        elif kind == VECTOR and width:
            shapes[name] = (width,)
    return shapes


def arrow_kind(arrow_type: Any) -> tuple[str, int | None]:
    """(kind, width) of an Arrow column type (LanceDB tables, HF datasets)."""
    import pyarrow as pa

    types = pa.types
    if types.is_integer(arrow_type) or types.is_floating(arrow_type):
        return NUMBER, 1
    if types.is_decimal(arrow_type):
        return NUMBER, 1
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return TEXT, 0
    lists = types.is_list(arrow_type) or types.is_large_list(arrow_type)
    if lists or types.is_fixed_size_list(arrow_type):
        inner = arrow_type.value_type
        if types.is_integer(inner) or types.is_floating(inner):
            return VECTOR, arrow_type.list_size if types.is_fixed_size_list(arrow_type) else None
    return OTHER, 0
