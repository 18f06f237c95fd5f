"""What the guided model reads per item: its embedding and, when asked, stored fields.

A collection often stores more than the vector it is searched by: numeric properties
(molecular weight, price, a lab's earlier measurement) or a second vector kept in one field
(a fingerprint as a list of numbers). `GuidedUpdate(fields=[...])` appends those fields to
the embedding as the model's inputs: each column standardised on the scored items, the block
scaled so that it weighs as much as the embedding in the kernel's distances. Items come with
their fields as `Item.data` (kNN results, samples) or a scan batch's `metadata`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .regressors import median_distance

Rows = Sequence[Mapping[str, Any] | None]


@dataclass(frozen=True)
class ModelInputs:
    """Maps (embeddings, metadata rows) to the model's input matrix (no fields: the
    embeddings as they are)."""

    fields: tuple[str, ...] = ()
    mean: np.ndarray | None = None  # per field column, on the scored items
    scale: np.ndarray | None = None  # per field column: the block's weight / the column's sd

    @classmethod
    def fit(cls, fields: Sequence[str], embeddings: np.ndarray, rows: Rows | None) -> ModelInputs:
        """Standardise the fields' columns on these (scored) items and weigh the block like
        the embeddings: its typical distance between two items equals theirs."""
        if not fields:
            return cls()
        columns = field_matrix(_present(rows, fields), fields)
        spread = columns.std(axis=0)
        spread[spread == 0] = 1.0
        typical = median_distance(np.asarray(embeddings), np.random.default_rng(0))
        weight = typical / math.sqrt(2 * columns.shape[1])
        return cls(tuple(fields), columns.mean(axis=0), weight / spread)

    def __call__(self, embeddings: np.ndarray, rows: Rows | None) -> np.ndarray:
        if not self.fields:
            return embeddings
        assert self.mean is not None and self.scale is not None
        rows = _present(rows, self.fields)
        if not len(rows):
            return np.empty((0, embeddings.shape[1] + len(self.mean)), dtype=np.float32)
        block = (field_matrix(rows, self.fields) - self.mean) * self.scale
        return np.hstack([np.asarray(embeddings, dtype=np.float32), block.astype(np.float32)])


def _present(rows: Rows | None, fields: Sequence[str]) -> Rows:
    if rows is None:
        raise ValueError(
            f"the model reads the fields {list(fields)}, but the source returned no "
            "metadata with these items"
        )
    return rows


def field_matrix(rows: Rows, fields: Sequence[str]) -> np.ndarray:
    """(items, columns) float64: each field a number, or a list of numbers (a vector kept in
    one field) of the same length on every item."""
    if not rows:
        return np.empty((0, 0))
    columns = [_column(rows, name) for name in fields]
    return np.hstack(columns)


def _column(rows: Rows, name: str) -> np.ndarray:
    """One field of every row as (rows, width) float64; one error naming the first bad value."""
    values = [None if row is None else row.get(name) for row in rows]
    try:
        column = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        column = None
    clean = column is not None and column.ndim in (1, 2) and bool(np.isfinite(column).all())
    if clean and not any(isinstance(v, (bool, str, bytes)) for v in values):
        assert column is not None
        return column.reshape(len(values), -1)
    raise ValueError(_first_problem(name, values))


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
