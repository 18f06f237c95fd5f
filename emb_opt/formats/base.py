"""What every table format shares: the header rule, rows as read, tables to write, and the
text a format cannot hold."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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


def metadata_keys(metadata: Sequence[dict[str, Any] | None]) -> list[Any]:
    """The keys of the rows' metadata, in the order they first appear."""
    return list(dict.fromkeys(key for row in metadata if row for key in row))


@dataclass(frozen=True)
class Header:
    """How a reader names columns: a header cell that is one of `known` in any case, spaces
    around it trimmed, is that name (`" ID "` is `id`); other names keep their case (spaces
    around trimmed). `numbers` are the known columns that hold numbers (where a decimal comma
    may be read, see `delimited`)."""

    known: Collection[str] = ()
    numbers: Collection[str] = ()

    def names(self, path: Path, cells: Sequence[Any]) -> list[str]:
        """The column names of a header row; a ConfigError when two name one known column."""
        names: list[str] = []
        first: dict[str, str] = {}
        for cell in cells:
            text = "" if cell is None else str(cell).strip()
            name = text.lower() if text.lower() in self.known else text
            if name in self.known and name in first:
                raise ConfigError(
                    f"{path}: the columns {first[name]!r} and {text!r} both name {name!r}; keep one"
                )
            first.setdefault(name, text)
            names.append(name)
        return names


@dataclass
class Rows:
    """The rows of a table file, read as they are iterated: dicts of column -> value.
    `columns` are the header's names (None where each row names its own: JSON lines)."""

    columns: list[str] | None
    rows: Iterator[dict[str, Any]]


def blank(row: dict[str, Any]) -> bool:
    """Whether every cell of `row` is empty (None or blank text)."""
    return all(
        value is None or (isinstance(value, str) and not value.strip()) for value in row.values()
    )


def without_trailing_blanks(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """`rows` less the blank ones at the end (a spreadsheet's formatted, empty rows); a blank
    row followed by others stays, a row without an id where it is."""
    held, last = 0, {}  # blank rows not known yet to be trailing: how many, the last one
    for row in rows:
        if blank(row):
            held, last = held + 1, row
            continue
        for _ in range(held):
            yield dict(last)
        held = 0
        yield row


@dataclass(frozen=True)
class Column:
    """One column to write: its `name`, what it holds (`kind`) and a value per row.

    Kinds: "id" (integers, or text), "text", "float", "int", "value" (whatever a format
    infers), "vector" (equal-length number arrays) and "metadata" (a dict per row: a JSON
    column in CSV, an object in JSON lines, a column per key, `metadata.KEY`, in Parquet and
    xlsx). Text of an `exact` column that a format cannot hold refuses the write; elsewhere
    it is escaped where the format can (a lone surrogate as `\\udXXX`)."""

    name: str
    kind: str
    values: Sequence[Any]
    exact: bool = False


@dataclass(frozen=True)
class Table:
    """Columns to write, all of one length; `hint` ends a refusal (what to do instead)."""

    columns: list[Column]
    hint: str = ""

    def __post_init__(self) -> None:
        lengths = {column.name: len(column.values) for column in self.columns}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"the columns of a table have one length each, got {lengths}")

    @property
    def size(self) -> int:
        """The number of rows."""
        return len(self.columns[0].values) if self.columns else 0

    def refuse(self, row: int, column: str, problem: str, format: str) -> ConfigError:
        """The error for text of `row` (named by its first column) that `format` cannot hold."""
        label = escape_surrogates(str(self.columns[0].values[row]))
        hint = f"; {self.hint}" if self.hint else ""
        return ConfigError(
            f"id {label!r}: its {column} holds {problem}, which {format} cannot hold{hint}"
        )


@dataclass(frozen=True)
class Format:
    """A table format: its name, the content kinds a file of it may hold (see `content`),
    how to open one for reading and how to write a table as one. `header` says whether the
    file's first line or row names the columns (so the first row of data is row 2); `typed`
    whether its columns keep their types, so that ids are written as the database gave them
    (integers as integers) rather than as text."""

    name: str
    content: frozenset[str]
    open: Callable[[Path, Header], AbstractContextManager[Rows]]
    write: Callable[[Path, Table], None]
    header: bool
    typed: bool = False
