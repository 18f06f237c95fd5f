"""CSV, and text separated by semicolons or tabs (as Excel saves it in other locales).

Read: UTF-8 with or without a byte order mark (Excel's "CSV UTF-8"), or UTF-16 after its
mark (Excel's "Unicode Text"). The separator is the one of `,` `;` and tab that splits the
header line into the most columns (`,` on a tie). Fields of any size and any text in quoted
fields (line breaks, form feeds) come back as written.

Decimal commas: in a file separated by `;` or tabs, a value of a number column that is
digits, one comma, digits (an exponent may follow: `0,93`, `-1,5e-3`, `1,234`) is read with
the comma as its decimal point. Nothing else is: a value with a comma and a point (`1.234,5`),
two commas (`1,234,567`) or a comma in a comma-separated file (`"0,93"`) is left as written,
and the score parser refuses it (a thousands separator is never guessed).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import write_atomically
from .base import Format, Header, Rows, Table, escape_surrogates, has_lone_surrogate, to_json

SEPARATORS = (",", ";", "\t")
DECIMAL_COMMA = re.compile(r"\s*[+-]?\d+,\d+([eE][+-]?\d+)?\s*", re.ASCII)


@contextmanager
def open_rows(path: Path, header: Header) -> Iterator[Rows]:
    from .content import encoding

    with open(path, newline="", encoding=encoding(path)) as handle, _no_field_limit():
        first = handle.readline()
        lines = itertools.chain([first], handle)
        separator = max(SEPARATORS, key=lambda sep: _width(first, sep))
        reader = csv.reader(lines, delimiter=separator)
        names = header.names(path, next(reader, []))
        decimal = [name for name in header.numbers if name in names] if separator != "," else []
        yield Rows(names, _rows(reader, names, decimal) if names else iter(()))


def _width(line: str, separator: str) -> int:
    """How many fields `separator` splits `line` into (0: it cannot parse it)."""
    try:
        return len(next(csv.reader([line], delimiter=separator), []))
    except csv.Error:  # a quoted field that goes on past the line
        return 0


def _rows(reader: Any, names: list[str], decimal: list[str]) -> Iterator[dict[str, Any]]:
    """The records after the header as dicts (as csv.DictReader makes them: a short record's
    missing fields None, a long one's extra fields as a list under None; empty lines skipped),
    decimal commas of the `decimal` columns read as points."""
    width = len(names)
    for record in reader:
        if not record:
            continue
        row: dict[Any, Any] = dict(zip(names, record))
        if len(record) > width:
            row[None] = record[width:]
        elif len(record) < width:
            row.update(dict.fromkeys(names[len(record) :]))
        for name in decimal:
            value = row[name]
            if value is not None and DECIMAL_COMMA.fullmatch(value):
                row[name] = value.replace(",", ".")
        yield row


@contextmanager
def _no_field_limit() -> Iterator[None]:
    """Within, the csv module reads fields of any size (its default stops at 128 KiB)."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def write(path: Path, table: Table) -> None:
    """Comma-separated UTF-8 (tab-separated for .tsv; no byte order mark), a header line
    first; metadata and vectors as JSON text, None as an empty field."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    writer.writerow([column.name for column in table.columns])
    for row in range(table.size):
        writer.writerow([_field(table, row, column) for column in table.columns])
    write_atomically(path, buffer.getvalue())


def _field(table: Table, row: int, column: Any) -> str:
    value = column.values[row]
    if column.kind == "metadata":
        return to_json(value or {})
    if value is None:
        return ""
    if column.kind == "vector":
        return to_json([float(x) for x in value])
    text = str(value)
    if has_lone_surrogate(text):
        if column.exact:
            raise table.refuse(row, column.name, "a lone surrogate", "CSV (UTF-8)")
        return escape_surrogates(text)
    return text


FORMAT = Format("CSV", frozenset({"text", "empty"}), open_rows, write, header=True)
