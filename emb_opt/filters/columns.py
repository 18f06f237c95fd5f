"""Columnar metadata and `mask`: the filter evaluated vectorised over a whole dataset.

Each field is decomposed once, by kind, into typed arrays (`FieldColumn`), so evaluating a
filter is numpy work only and stays type-strict: a bool never equals a number, a str never
equals a number, and missing/null/other values fail every positive comparison.

Numbers are compared as float64. That is exact for integers up to 2**53 in magnitude; beyond
that, distinct integers can compare equal here while `matches` (exact Python arithmetic)
tells them apart. Integers beyond the float64 range become +/-inf.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emb_opt.filters.ir import (
    BOOL,
    NEGATIVE_OPS,
    NUMBER,
    ORDER,
    RANGE_OPS,
    STR,
    And,
    Comparison,
    Const,
    Filter,
    Not,
    Or,
    kind_of,
)
from emb_opt.filters.parse import parse


@dataclass(frozen=True, eq=False)
class FieldColumn:
    """One field over n rows, split by kind; an array is None when no row has that kind.

    numbers: float64, NaN where the row is not a number; bools: int8, 1/0, -1 where not a
    bool; codes: int64 index into `vocabulary` (str -> code), -1 where not a str.
    """

    n_rows: int
    numbers: np.ndarray | None = None
    bools: np.ndarray | None = None
    codes: np.ndarray | None = None
    vocabulary: Mapping[str, int] = field(default_factory=dict)


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def column_from_values(values: Sequence[Any]) -> FieldColumn:
    """Decompose one field's per-row Python values (None = null) into a FieldColumn."""
    numbers: dict[int, float] = {}
    bools: dict[int, int] = {}
    codes: dict[int, int] = {}
    vocabulary: dict[str, int] = {}
    for row, value in enumerate(values):
        kind = kind_of(value)
        if kind == NUMBER:
            numbers[row] = _to_float(value)
        elif kind == BOOL:
            bools[row] = int(value)
        elif kind == STR:
            codes[row] = vocabulary.setdefault(str(value), len(vocabulary))
    n = len(values)
    return FieldColumn(
        n_rows=n,
        numbers=_scatter(n, numbers, np.float64, np.nan),
        bools=_scatter(n, bools, np.int8, -1),
        codes=_scatter(n, codes, np.int64, -1),
        vocabulary=vocabulary,
    )


def _scatter(n: int, by_row: dict[int, Any], dtype: Any, fill: Any) -> np.ndarray | None:
    if not by_row:
        return None
    out = np.full(n, fill, dtype=dtype)
    out[np.fromiter(by_row.keys(), np.int64, len(by_row))] = np.fromiter(
        by_row.values(), dtype, len(by_row)
    )
    return out


def column_from_arrow(array: Any) -> FieldColumn:
    """Decompose a pyarrow Array/ChunkedArray (nulls = null) into a FieldColumn."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = array.type
    n = len(array)
    if pa.types.is_null(kind):
        return FieldColumn(n_rows=n)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        numbers = pc.cast(array, pa.float64(), safe=False).fill_null(math.nan)
        return FieldColumn(n_rows=n, numbers=numbers.to_numpy(zero_copy_only=False))
    if pa.types.is_boolean(kind):
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        values = array.fill_null(False).to_numpy(zero_copy_only=False).astype(np.int8)
        return FieldColumn(n_rows=n, bools=np.where(valid, values, np.int8(-1)))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = array.dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        words = encoded.dictionary.to_pylist()
        return FieldColumn(n_rows=n, codes=codes, vocabulary={w: i for i, w in enumerate(words)})
    # Anything else (unions, decimals, lists, timestamps...): decide per value, as `matches` does.
    return column_from_values(array.to_pylist())


class Columns:
    """Per-item metadata as columns, decomposed lazily per field and cached.

    Build it once per dataset and reuse it across searches; the source must not change.
    """

    __slots__ = ("_cache", "_load", "_n_rows")

    def __init__(self, n_rows: int, load: Callable[[str], FieldColumn]) -> None:
        self._n_rows = n_rows
        self._load = load
        self._cache: dict[str, FieldColumn] = {}

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any] | None]) -> Columns:
        """Columns over per-row metadata dicts (a None row has every field missing)."""
        rows = tuple(records)
        return cls(len(rows), functools.partial(_record_field, rows))

    @classmethod
    def from_arrow(cls, table: Any) -> Columns:
        """Columns over a pyarrow Table, or a dict of equal-length columns (lists or arrays).

        A null/None value is null; a column absent from the table is missing in every row.
        """
        if isinstance(table, Mapping):
            lengths = {name: len(column) for name, column in table.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"columns have different lengths: {lengths}")
            columns = dict(table)
            n_rows = next(iter(lengths.values()), 0)
        else:
            columns = {name: table.column(name) for name in table.column_names}
            n_rows = table.num_rows
        return cls(n_rows, functools.partial(_column_field, columns, n_rows))

    def __len__(self) -> int:
        return self._n_rows

    def __repr__(self) -> str:
        return f"Columns(n_rows={self._n_rows}, loaded={sorted(self._cache)})"

    def field(self, name: str) -> FieldColumn:
        """The decomposed column of one field (built on first use, then cached)."""
        column = self._cache.get(name)
        if column is None:
            column = self._cache[name] = self._load(name)
        return column


def _record_field(rows: Sequence[Mapping[str, Any] | None], name: str) -> FieldColumn:
    """Field `name` of per-row metadata dicts (a module function: `Columns` pickle)."""
    return column_from_values([row.get(name) if row is not None else None for row in rows])


def _column_field(columns: Mapping[str, Any], n_rows: int, name: str) -> FieldColumn:
    """Column `name` of a table (Arrow columns, lists or arrays); absent: missing everywhere."""
    if name not in columns:
        return FieldColumn(n_rows=n_rows)
    column = columns[name]
    if type(column).__module__.startswith("pyarrow"):
        return column_from_arrow(column)
    if isinstance(column, np.ndarray):
        column = column.tolist()
    return column_from_values(column)


def mask(flt: Filter | Mapping[str, Any] | None, columns: Columns) -> np.ndarray:
    """A bool array, one entry per row: `mask(f, c)[i] == matches(f, row i)`."""
    return _mask(parse(flt), columns)


def _mask(flt: Filter, columns: Columns) -> np.ndarray:
    if isinstance(flt, Comparison):
        found = _positive(flt, columns.field(flt.field))
        return ~found if flt.op in NEGATIVE_OPS else found
    if isinstance(flt, And | Or):
        out = _mask(flt.children[0], columns)
        for child in flt.children[1:]:
            if isinstance(flt, And):
                out &= _mask(child, columns)
            else:
                out |= _mask(child, columns)
        return out
    if isinstance(flt, Not):
        return ~_mask(flt.child, columns)
    if isinstance(flt, Const):
        return np.full(len(columns), flt.value, dtype=bool)
    raise TypeError(f"expected a filter node, got {flt!r}")


def _positive(comparison: Comparison, column: FieldColumn) -> np.ndarray:
    """The positive form (`ne` as `eq`, `nin` as `in`) as a fresh bool array."""
    kind, values = comparison.kind, comparison.values
    if kind == NUMBER and column.numbers is not None:
        if comparison.op in RANGE_OPS:
            return ORDER[comparison.op](column.numbers, _to_float(comparison.value))
        return _isin(column.numbers, np.array([_to_float(v) for v in values]))
    if kind == BOOL and column.bools is not None:
        return _isin(column.bools, np.array([int(v) for v in values], dtype=np.int8))
    if kind == STR and column.codes is not None:
        codes = [column.vocabulary[str(v)] for v in values if v in column.vocabulary]
        return _isin(column.codes, np.array(codes, dtype=np.int64))
    return np.zeros(column.n_rows, dtype=bool)


def _isin(array: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if len(targets) == 1:
        return array == targets[0]
    return np.isin(array, targets)
