"""Parquet: read by record batch, written with typed Arrow columns (results, asked plates).

Rules of the columns written, the same for every file:
- an id column is int64 when every id is an integer, text otherwise;
- each metadata key becomes its own column, named `metadata.KEY` (so no key can clash with
  `id`, `score` or another column), typed by Arrow over all rows; a key whose values are
  nested (dicts, lists) or mixed (say numbers and text) becomes a column of JSON text, marked
  with the field metadata `{"emb_opt.encoding": "json"}`;
- text that UTF-8 cannot hold (a lone surrogate) is written with the JSON escape `\\udXXX`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import write_with
from ..errors import missing_dependency
from .base import (
    Column,
    Format,
    Header,
    Rows,
    Table,
    escape_surrogates,
    has_lone_surrogate,
    metadata_keys,
    to_json,
)

METADATA_PREFIX = "metadata."
JSON_ENCODING = {b"emb_opt.encoding": b"json"}
_ARROW_REFUSALS = (ValueError, TypeError, OverflowError)  # ArrowInvalid is a ValueError
BATCH = 10_000  # rows read at a time


def require_pyarrow() -> None:
    """An ImportError with the extra to install, when pyarrow is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise missing_dependency("pyarrow", "cli") from None


@contextmanager
def open_rows(path: Path, header: Header) -> Iterator[Rows]:
    require_pyarrow()
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as file:
        names = header.names(path, file.schema_arrow.names)
        yield Rows(names, _rows(file, names))


def _rows(file: Any, names: list[str]) -> Iterator[dict[str, Any]]:
    for batch in file.iter_batches(batch_size=BATCH):
        yield from batch.rename_columns(names).to_pylist()


def write(path: Path, table: Table) -> None:
    """Typed columns (see above); the metadata columns last."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs, metadata = [], []
    for column in table.columns:
        if column.kind == "metadata":
            metadata += metadata_fields(column.values)
        else:
            array = _array(table, column)
            pairs.append((pa.field(column.name, array.type), array))
    pairs += metadata
    arrow = pa.Table.from_arrays([a for _, a in pairs], schema=pa.schema([f for f, _ in pairs]))
    write_with(path, lambda tmp: pq.write_table(arrow, tmp))


def _array(table: Table, column: Column) -> Any:
    """The Arrow array of a column that is not metadata; a refusal for exact text that UTF-8
    cannot hold."""
    import numpy as np
    import pyarrow as pa

    values = column.values
    if column.exact:
        for row, value in enumerate(values):
            if isinstance(value, str) and has_lone_surrogate(value):
                raise table.refuse(row, column.name, "a lone surrogate", "Parquet (UTF-8)")
    if column.kind == "id":
        return id_array(values)
    if column.kind == "text":
        return text_array(values)
    if column.kind in ("float", "int"):
        return pa.array(values, pa.float64() if column.kind == "float" else pa.int64())
    if column.kind == "vector":
        vectors = [np.asarray(v) for v in values]
        dimension = len(vectors[0]) if vectors else 1  # Arrow needs one, even with no rows
        flat = np.concatenate(vectors) if vectors else np.zeros(0, np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), dimension)
    return value_array(values)


def id_array(ids: Sequence[Any]) -> Any:
    """int64 when every id is an integer, else text."""
    import pyarrow as pa

    if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        try:
            return pa.array(ids, pa.int64())
        except _ARROW_REFUSALS:
            pass
    return text_array([None if i is None else str(i) for i in ids])


def text_array(values: Sequence[str | None]) -> Any:
    """A string column (lone surrogates escaped)."""
    import pyarrow as pa

    return pa.array([None if v is None else escape_surrogates(v) for v in values], pa.string())


def value_array(values: Sequence[Any]) -> Any:
    """The values as Arrow infers them (an item, say); their text where it cannot."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except _ARROW_REFUSALS:
        return text_array([None if v is None else str(v) for v in values])


def metadata_fields(metadata: Sequence[dict[str, Any] | None]) -> list[tuple[Any, Any]]:
    """(field, array) pairs, one per metadata key, in the order the keys first appear."""
    import pyarrow as pa

    pairs = []
    for key in metadata_keys(metadata):
        values = [None if row is None else row.get(key) for row in metadata]
        name = f"{METADATA_PREFIX}{escape_surrogates(str(key))}"
        array = _typed(values)
        if array is None:
            array = pa.array([None if v is None else to_json(v) for v in values], pa.string())
            pairs.append((pa.field(name, pa.string(), metadata=JSON_ENCODING), array))
        else:
            pairs.append((pa.field(name, array.type), array))
    return pairs


def _typed(values: list[Any]) -> Any:
    """The values as one Arrow type, or None when they are nested or mixed."""
    import pyarrow as pa

    if any(isinstance(v, (dict, list, tuple)) for v in values):
        return None
    try:
        return pa.array(values)
    except _ARROW_REFUSALS:
        return None


FORMAT = Format("Parquet", frozenset({"parquet"}), open_rows, write, header=False, typed=True)
