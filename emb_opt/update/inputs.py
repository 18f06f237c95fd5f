"""What the guided model reads per item: its embedding and, when asked, stored fields.

A collection often stores more than the vector it is searched by: numeric properties
(molecular weight, price, a lab's earlier measurement) or a second vector kept in one field
(a fingerprint as a list of numbers). `GuidedUpdate(fields=[...])` appends those fields to
the embedding as the model's inputs: each column standardised on the scored items, the block
scaled so that it weighs as much as the embedding in the kernel's distances. Items come with
their fields as `Item.data` (kNN results, samples), a scan batch's `metadata`, or its
`columns` (a projected scan reads only the fields the model reads). Fields the strategy chose
itself (`fields="auto"`) are `lenient`: an item that lacks one gets the scored items' mean
there; fields named by the user must be on every item.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .regressors import median_distance

Rows = Sequence[Mapping[str, Any] | None]
Columns = Mapping[str, np.ndarray]  # field -> (n,) or (n, width) float64, NaN where missing


@dataclass(frozen=True)
class ModelInputs:
    """Maps (embeddings, the items' fields as rows or columns) to the model's input matrix
    (no fields: the embeddings as they are)."""

    fields: tuple[str, ...] = ()
    mean: np.ndarray | None = None  # per field column, on the scored items
    scale: np.ndarray | None = None  # per field column: the block's weight / the column's sd
    lenient: bool = False  # an item lacking a field gets the mean there (else: an error)

    @classmethod
    def fit(
        cls,
        fields: Sequence[str],
        embeddings: np.ndarray,
        rows: Rows | None = None,
        columns: Columns | None = None,
        lenient: bool = False,
    ) -> ModelInputs:
        """Standardise the fields' columns on these (scored) items and weigh the block like
        the embeddings: its typical distance between two items equals theirs."""
        if not fields:
            return cls()
        block = _block(tuple(fields), rows, columns, lenient)
        with warnings.catch_warnings():  # a column no scored item holds: mean 0, sd 1
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nan_to_num(np.nanmean(block, axis=0))
            spread = np.nan_to_num(np.nanstd(block, axis=0))
        spread[spread == 0] = 1.0
        typical = median_distance(np.asarray(embeddings), np.random.default_rng(0))
        weight = typical / math.sqrt(2 * block.shape[1])
        return cls(tuple(fields), mean, weight / spread, lenient)

    def __call__(
        self, embeddings: np.ndarray, rows: Rows | None = None, columns: Columns | None = None
    ) -> np.ndarray:
        if not self.fields:
            return embeddings
        assert self.mean is not None and self.scale is not None
        if not len(embeddings):
            return np.empty((0, embeddings.shape[1] + len(self.mean)), dtype=np.float32)
        block = _block(self.fields, rows, columns, self.lenient)
        if block.shape[1] != len(self.mean):
            raise ValueError(
                f"the fields {list(self.fields)} hold {block.shape[1]} numbers per item here "
                f"and {len(self.mean)} on the scored items: a vector field needs one length"
            )
        block = np.nan_to_num((block - self.mean) * self.scale)  # missing: the mean
        return np.hstack([np.asarray(embeddings, dtype=np.float32), block.astype(np.float32)])


def _block(
    fields: tuple[str, ...], rows: Rows | None, columns: Columns | None, lenient: bool
) -> np.ndarray:
    """(items, numbers) float64 of the fields, from `columns` when given, else `rows`; NaN
    where an item lacks a field (only when `lenient`)."""
    if columns is not None:
        block = np.hstack([_as_2d(columns[name]) for name in fields])
        if not lenient and np.isnan(block).any():
            raise ValueError(_first_missing(fields, columns))
        return block
    if rows is None:
        raise ValueError(
            f"the model reads the fields {list(fields)}, but the source returned no "
            "metadata with these items"
        )
    return field_matrix(rows, fields, lenient)


def _as_2d(column: np.ndarray) -> np.ndarray:
    column = np.asarray(column, dtype=np.float64)
    return column.reshape(len(column), -1)


def _first_missing(fields: tuple[str, ...], columns: Columns) -> str:
    for name in fields:
        rows = np.flatnonzero(np.isnan(_as_2d(columns[name])).any(axis=1))
        if len(rows):
            return (
                f"the model reads the field {name!r}, but an item lacks it (item {rows[0]} "
                f"of {len(columns[name])}): expected a number or a list of numbers"
            )
    return "a field is missing"


def field_matrix(rows: Rows, fields: Sequence[str], lenient: bool = False) -> np.ndarray:
    """(items, columns) float64: each field a number, or a list of numbers (a vector kept in
    one field) of the same length on every item; `lenient`: NaN where an item lacks one."""
    if not rows:
        return np.empty((0, 0))
    columns = [_column(rows, name, lenient) for name in fields]
    return np.hstack(columns)


def _column(rows: Rows, name: str, lenient: bool = False) -> np.ndarray:
    """One field of every row as (rows, width) float64; one error naming the first bad value."""
    values = [None if row is None else row.get(name) for row in rows]
    if lenient and any(value is None for value in values):
        return _with_gaps(values, name)
    try:
        column = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        column = None
    clean = column is not None and column.ndim in (1, 2) and bool(np.isfinite(column).all())
    if clean and not any(isinstance(v, (bool, str, bytes)) for v in values):
        assert column is not None
        return column.reshape(len(values), -1)
    raise ValueError(_first_problem(name, values))


def _with_gaps(values: list[Any], name: str) -> np.ndarray:
    """`_column` of the present values, NaN rows where a value is missing."""
    present = [i for i, value in enumerate(values) if value is not None]
    if not present:
        return np.full((len(values), 1), np.nan)
    known = _column([{name: values[i]} for i in present], name)
    column = np.full((len(values), known.shape[1]), np.nan)
    column[present] = known
    return column


def _first_problem(name: str, values: list[Any]) -> str:
    """What is wrong with the first value of field `name` that is not a number or a list of
    numbers as long as the others."""
    width = None
    for index, value in enumerate(values):
        try:
            number = np.atleast_1d(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            number = np.empty(0)
        text = value is None or isinstance(value, (bool, str, bytes))
        if text or number.ndim != 1 or not len(number):
            return (
                f"the model reads the field {name!r}, but an item has {value!r} there (item "
                f"{index} of {len(values)}): expected a number or a list of numbers"
            )
        if width is not None and len(number) != width:
            return (
                f"the field {name!r} holds {len(number)} numbers on one item and {width} on "
                "another: a vector field needs one length"
            )
        if not np.isfinite(number).all():
            return f"the field {name!r} holds {value!r}: expected finite numbers"
        width = len(number)
    return f"the field {name!r} is not a number or a list of numbers on every item"
