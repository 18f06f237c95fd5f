"""Typed Arrow columns for the Parquet files emb-opt writes (results and asked items).

Rules, the same for every file:
- an id column is int64 when every id is an integer, text otherwise;
- each metadata key becomes its own column, named `metadata.KEY` (so no key can clash with
  `id`, `score` or another column), typed by Arrow over all rows; a key whose values are
  nested (dicts, lists) or mixed (say numbers and text) becomes a column of JSON text, marked
  with the field metadata `{"emb_opt.encoding": "json"}`;
- text that UTF-8 cannot hold (a lone surrogate) is written with the JSON escape `\\udXXX`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import naming, temporary_beside

METADATA_PREFIX = "metadata."
JSON_ENCODING = {b"emb_opt.encoding": b"json"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ARROW_REFUSALS = (ValueError, TypeError, OverflowError)  # ArrowInvalid is a ValueError


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a code point UTF-8 cannot encode."""
    return _LONE_SURROGATE.search(text) is not None


def escape_surrogates(text: str) -> str:
    """`text` with each lone surrogate written as the JSON escape `\\udXXX`."""
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def to_json(value: Any) -> str:
    """JSON text of `value` that any UTF-8 file holds and `json.loads` reads back exactly:
    characters stay as they are, control characters and lone surrogates are escaped."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False, default=str))


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

    keys = dict.fromkeys(key for row in metadata if row for key in row)
    pairs = []
    for key in keys:
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


def table(columns: list[tuple[str, Any]], metadata: Sequence[dict[str, Any] | None]) -> Any:
    """A table of the named `columns` followed by one column per metadata key."""
    import pyarrow as pa

    pairs = [(pa.field(name, array.type), array) for name, array in columns]
    pairs += metadata_fields(metadata)
    return pa.Table.from_arrays([a for _, a in pairs], schema=pa.schema([f for f, _ in pairs]))


def write_parquet(parquet_table: Any, path: Path) -> None:
    """Write the table to a temporary file beside `path`, then rename it over `path`."""
    import pyarrow.parquet as pq

    with naming(path):
        tmp = temporary_beside(path)
        try:
            pq.write_table(parquet_table, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # pyarrow may have removed it
            raise
