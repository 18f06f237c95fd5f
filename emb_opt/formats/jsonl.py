"""JSON lines: one JSON object per line (UTF-8, a byte order mark skipped); blank lines are
skipped, and a line ends only at a newline (U+2028 inside a string is text)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import write_atomically
from ..errors import ConfigError
from .base import Format, Header, Rows, Table


@contextmanager
def open_rows(path: Path, header: Header) -> Iterator[Rows]:
    with open(path, encoding="utf-8-sig", newline="\n") as handle:
        yield Rows(None, _rows(path, handle))


def _rows(path: Path, lines: Any) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}: line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: line {number} is not a JSON object")
        yield row


def write(path: Path, table: Table) -> None:
    """A JSON object per row, in column order: metadata as an object, vectors as lists."""
    lines = []
    for row in range(table.size):
        record = {column.name: _value(column.kind, column.values[row]) for column in table.columns}
        lines.append(json.dumps(record, default=str) + "\n")
    write_atomically(path, "".join(lines))


def _value(kind: str, value: Any) -> Any:
    if kind == "metadata":
        return value or {}
    if kind == "vector" and value is not None:
        return [float(x) for x in value]
    return value


FORMAT = Format("JSON lines", frozenset({"json", "empty"}), open_rows, write, header=False)
