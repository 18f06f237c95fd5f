"""Excel workbooks (.xlsx), with openpyxl (the `cli` extra).

Read: the first sheet, its first row the header; numbers come as numbers, empty cells as
None, a formula as the value Excel last computed (None in a file no spreadsheet has saved).
Rows stream in openpyxl's read-only mode (which keeps about 120 bytes a row read: its
parser's emptied row elements; 130 MB at Excel's most, 1,048,576 rows).

Write: one sheet, a header row, then a row per item; ids and text as text cells (so Excel
never turns `007` into 7 or `=A1` into a formula), numbers Excel holds exactly as numbers,
metadata a column per key (`metadata.KEY`; nested values as JSON text). Text no Excel cell
holds exactly (a control character, a carriage return, a lone surrogate, over 32,767
characters) refuses the write, naming the id and the column.
"""

from __future__ import annotations

import io
import math
import numbers
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import write_with
from ..errors import ConfigError, missing_dependency
from .base import (
    Column,
    Format,
    Header,
    Rows,
    Table,
    has_lone_surrogate,
    metadata_keys,
    to_json,
)

CELL_TEXT = 32_767  # characters an Excel cell holds
EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number
SHEET = "emb-opt"
CARRIAGE_RETURN = re.compile("\r")  # XML reads it back as a line feed


def _openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError:
        raise missing_dependency("openpyxl", "cli") from None
    return openpyxl


@contextmanager
def open_rows(path: Path, header: Header) -> Iterator[Rows]:
    from xml.etree.ElementTree import ParseError
    from zipfile import BadZipFile

    openpyxl = _openpyxl()
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, KeyError, ParseError, openpyxl.utils.exceptions.InvalidFileException) as e:
        raise ConfigError(f"{path}: cannot read it as an Excel workbook: {e}") from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # read every row, whatever size the file claims
        cells = sheet.iter_rows(values_only=True)
        names = header.names(path, next(cells, ()))
        yield Rows(names, _rows(cells, names))
    finally:
        book.close()


def _rows(cells: Iterator[tuple[Any, ...]], names: list[str]) -> Iterator[dict[str, Any]]:
    for values in cells:
        row = dict.fromkeys(names)
        row.update(zip(names, values))
        yield row


def write(path: Path, table: Table) -> None:
    """One sheet: the header row, then a row per item (see above); a refusal, before
    anything is written, for text no cell can hold."""
    openpyxl = _openpyxl()
    layout = _layout(table)
    for name, _, _ in layout:
        problem = _unholdable(name)
        if problem:
            raise ConfigError(f"the column name {name!r} holds {problem}, which xlsx cannot hold")
    cells = [
        [
            _cell(table, row, name, column.kind, _value(column, key, row))
            for name, column, key in layout
        ]
        for row in range(table.size)
    ]
    book = openpyxl.Workbook()  # in memory: the file is written at once, when saved
    sheet = book.active
    sheet.title = SHEET
    for number, row in enumerate([[Text(name) for name, _, _ in layout], *cells], 1):
        for column, value in enumerate(row, 1):
            cell = sheet.cell(number, column, value)
            if isinstance(value, Text):
                cell.data_type = "s"  # openpyxl would make `=...` a formula

    def save(tmp: Path) -> None:  # to memory first: a failed write leaves no zip half open
        saved = io.BytesIO()
        book.save(saved)
        tmp.write_bytes(saved.getvalue())

    write_with(path, save)


def _value(column: Column, key: Any, row: int) -> Any:
    """The value of `row` in `column`, or in its metadata under `key` (unless None)."""
    value = column.values[row]
    return value if key is None else (value or {}).get(key)


class Text(str):
    """Text to write as a text cell, whatever it looks like (`007`, `=A1`)."""


def _layout(table: Table) -> list[tuple[str, Column, Any]]:
    """(header name, column, metadata key or None) of each sheet column, in order."""
    layout: list[tuple[str, Column, Any]] = []
    for column in table.columns:
        if column.kind == "metadata":
            layout += [(f"metadata.{key}", column, key) for key in metadata_keys(column.values)]
        else:
            layout.append((column.name, column, None))
    return layout


def _cell(table: Table, row: int, name: str, kind: str, value: Any) -> Any:
    """What the cell of `value` holds: a number where Excel holds it exactly, else `Text`
    (see above); a refusal for text no Excel cell can hold."""
    if value is None or isinstance(value, bool):
        return value
    if kind not in ("id", "text") and isinstance(value, numbers.Integral):
        if abs(int(value)) < 10**EXACT_DIGITS:
            return int(value)
    elif kind not in ("id", "text") and isinstance(value, numbers.Real):
        if math.isfinite(value):
            return float(value)
    elif isinstance(value, (dict, list, tuple)) or kind == "vector":
        value = to_json(value if isinstance(value, (dict, list, tuple)) else list(value))
    text = str(value)
    problem = _unholdable(text)
    if problem:
        raise table.refuse(row, name, problem, "an Excel cell")
    return Text(text)


def _unholdable(text: str) -> str | None:
    """What in `text` no Excel cell can hold, if anything."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if has_lone_surrogate(text):
        return "a lone surrogate"
    illegal = ILLEGAL_CHARACTERS_RE.search(text) or CARRIAGE_RETURN.search(text)
    if illegal:
        return f"the control character {illegal.group()!r}"
    if len(text) > CELL_TEXT:
        return f"{len(text):,} characters (at most {CELL_TEXT:,})"
    return None


FORMAT = Format("Excel workbook", frozenset({"xlsx"}), open_rows, write, header=True)
