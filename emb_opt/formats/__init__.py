"""Table files: the plates `emb-opt ask` writes, the scores `tell` and `start.scores` read,
the results a run writes. One mapping from suffix to format (`FORMATS`) reads and writes
them all (a new format is its module and a line here):

    .csv .tsv .txt   text separated by `,` `;` or tabs (see `delimited`: byte order marks,
                     the separator sniffed, decimal commas)
    .jsonl           JSON lines
    .parquet         Parquet (typed columns, see `parquet`)
    .xlsx            Excel workbooks (see `xlsx`)

A file whose content is not what its suffix says (text named .xlsx, a workbook named .csv,
Parquet or other binary data named .csv) is refused, naming the file, the suffix and what
it holds. Rows stream as they are read (CSV and JSON lines by line, Parquet by record
batch, xlsx in read-only mode); blank rows at the end are left out.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import delimited, jsonl, parquet, xlsx
from .base import Column, Format, Header, Rows, Table, without_trailing_blanks
from .content import DESCRIBED, kind

__all__ = [
    "FORMATS",
    "Column",
    "Format",
    "Table",
    "first_row_number",
    "format_names",
    "format_of",
    "open_rows",
    "read_rows",
    "write",
]

FORMATS: dict[str, Format] = {
    ".csv": delimited.FORMAT,
    ".tsv": delimited.FORMAT,
    ".txt": delimited.FORMAT,
    ".jsonl": jsonl.FORMAT,
    ".parquet": parquet.FORMAT,
    ".xlsx": xlsx.FORMAT,
}


def format_names() -> list[str]:
    """One name per format, its first suffix without the dot (csv, jsonl, parquet, xlsx):
    what `emb-opt ask --format` takes."""
    first: dict[Format, str] = {}
    for suffix, format in FORMATS.items():
        first.setdefault(format, suffix.removeprefix("."))
    return list(first.values())


def format_of(path: Path) -> Format:
    """The format `path`'s suffix names; a ConfigError naming the suffixes there are."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ConfigError(
            f"{path}: no table format has the suffix {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(FORMATS)}"
            + (" (save an .xls workbook as .xlsx)" if path.suffix.lower() == ".xls" else "")
        )
    return found


@contextmanager
def open_rows(
    path: Path, known: Collection[str] = (), numbers: Collection[str] = ()
) -> Iterator[Rows]:
    """The rows of a table file, as they are read (see `Header` for `known` and `numbers`);
    a ConfigError naming the file when it cannot be read as its suffix says."""
    format = format_of(path)
    with ExitStack() as stack:
        with _reading(path, format):
            found = kind(path)
            if found not in format.content:
                raise ConfigError(
                    f"{path}: the suffix {path.suffix} says {format.name}, but the file holds "
                    f"{DESCRIBED[found]}"
                )
            header = Header(frozenset(known), frozenset(numbers))
            rows = stack.enter_context(format.open(path, header))
        yield Rows(rows.columns, _guarded(path, format, without_trailing_blanks(rows.rows)))


def _guarded(
    path: Path, format: Format, rows: Iterator[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """`rows`, an error while reading them a ConfigError naming the file."""
    with _reading(path, format):
        yield from rows


@contextmanager
def _reading(path: Path, format: Format) -> Iterator[None]:
    """Within, an error reading `path` is a ConfigError naming it."""
    try:
        yield
    except ConfigError:
        raise
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        bad = error.object[error.start : error.start + 1]
        raise ConfigError(
            f"{path}: it is not UTF-8 text (byte {bad!r}: {error.reason}); "
            'Excel: save it as "CSV UTF-8"'
        ) from None
    except (csv.Error, ValueError) as error:
        raise ConfigError(f"{path}: cannot read it as {format.name}: {error}") from None


def read_rows(
    path: Path, known: Collection[str] = (), numbers: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Every row of a table file (`open_rows` streams them)."""
    with open_rows(path, known, numbers) as rows:
        return list(rows.rows)


def first_row_number(path: Path) -> int:
    """The number messages give the first row of `path`: 2 where a header line or row
    comes first (CSV, xlsx), else 1."""
    return 2 if format_of(path).header else 1


def write(path: Path, table: Table) -> None:
    """Write `table` as `path`'s suffix says, replacing the file whole."""
    format_of(path).write(path, table)
