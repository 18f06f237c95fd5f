"""Files of scores: `id,score[,valid,reason]` rows in any table format (`emb_opt.formats`:
CSV, xlsx, Parquet, JSON lines).

`emb-opt tell` reads the scores of asked items with them, and `start: {scores: ...}` the
scores a user had before the search.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import formats
from .calls import as_score
from .errors import ConfigError
from .formats import first_row_number

__all__ = ["first_row_number", "open_rows", "parse_row", "parse_score", "read_rows", "row_id"]

Answer = tuple[str, float | None, str | None]  # id, score (None: invalid), reason
COLUMNS = "id,score[,valid,reason]"
KNOWN, NUMBERS = ("id", "score", "valid", "reason", "run"), ("score",)  # names in any case
COMMA = (
    " (a comma is read as a decimal point only in a file separated by ; or tabs, in a number"
    " with no point and no other comma: write it with a decimal point and no thousands"
    " separator)"
)
SHOWN = 5  # problems a message lists; the rest are counted
LISTED = 10_000  # problems a problems file lists; the rest are counted
NUMBER = re.compile(
    r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*|\s*[+-]?(nan|inf|infinity)\s*", re.I | re.ASCII
)


@contextmanager
def open_rows(path: Path, key: str | None = None) -> Iterator[Iterator[dict[str, Any]]]:
    """The rows of a scores file in any table format (`emb_opt.formats`), as they are read;
    a ConfigError naming it when it cannot be read or lacks the id and score columns (a
    column named `key` may stand for the id column)."""
    with formats.open_rows(path, KNOWN, NUMBERS) as table:
        columns = set(table.columns or ())
        if key is not None and key in columns:
            columns.add("id")
        if table.columns is not None and not {"id", "score"} <= columns:
            got = ",".join(table.columns) or "no header"
            raise ConfigError(f"{path}: expected the columns {COLUMNS}, got {got}")
        yield table.rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a scores file (`open_rows` streams them)."""
    with open_rows(path) as rows:
        return list(rows)


def row_id(row: dict[str, Any], known: set[str] | frozenset[str] = frozenset()) -> str:
    """The id of a row, as text: as written when `known` holds it, else without the spaces
    an editor may have added around it."""
    value = row.get("id")
    given = "" if value is None else str(value)  # an empty cell: no id
    return given if given in known else given.strip()


def parse_row(
    row: dict[str, Any], seen: set[str] | None, id: str | None = None
) -> tuple[Answer, str | None]:
    """(id, score, reason) of one row (its id as `row_id` reads it, unless given), or the
    problem with it; `seen` collects the ids, refusing one seen before (None: repeats, as
    replicates, are fine)."""
    id = row_id(row) if id is None else id
    nothing = (id, None, None)
    if not id:
        return nothing, "the row has no id"
    if seen is not None:
        if id in seen:
            return nothing, f"id {shown(id)} appears twice"
        seen.add(id)
    reason = str(row.get("reason") or "").strip() or None
    if str(row.get("valid", "")).strip().lower() in ("false", "0", "no"):
        return (id, None, reason or "marked invalid"), None
    raw = row.get("score")
    if raw is None or str(raw).strip() == "":
        if reason is not None:
            return (id, None, reason), None
        return nothing, f"id {shown(id)} has no score (give a reason, or valid=false, if none)"
    if reason is not None:
        return nothing, (
            f"id {shown(id)} has both a score ({shown(raw)}) and a reason ({shown(reason)}): "
            "a reason marks a failed item; clear one of them"
        )
    score, problem = parse_score(raw)
    if problem is not None:
        return nothing, f"id {shown(id)} has score {shown(raw)}{problem}"
    return (id, score, None), None


def shown(value: Any) -> str:
    """`value` as a message shows it: its repr, the middle of a long one left out."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = 60
    return short.repr(value)


def parse_score(raw: Any) -> tuple[float, str | None]:
    """A score as a file holds it (a number, or text that is a plain decimal or scientific
    number, spaces around allowed) as a float; or what is wrong with it, to follow the value
    in a message."""
    if isinstance(raw, str):
        if not NUMBER.fullmatch(raw):
            return math.nan, ", which is not a number" + (COMMA if "," in raw else "")
        raw = float(raw)
    if isinstance(raw, Decimal):  # a Parquet decimal column
        raw = float(raw)
    if isinstance(raw, bool):
        return math.nan, ", which is a boolean, not a number"
    number = as_score(raw)
    if number is None:
        too_large = isinstance(raw, int)
        return (
            math.nan,
            ", which is too large for a float" if too_large else ", which is not a number",
        )
    return number, None if math.isfinite(number) else "; scores must be finite"


class Problems:
    """The problems of a file's rows as they are found: the first LISTED, and how many."""

    def __init__(self) -> None:
        self.first: list[str] = []
        self.count = 0

    def add(self, number: int, problem: str) -> None:
        """Note the problem of row `number`."""
        self.count += 1
        if len(self.first) < LISTED:
            self.first.append(f"row {number}: {problem}")

    def __bool__(self) -> bool:
        return self.count > 0


def problems_text(problems: list[str], listed: Path | None = None, count: int = 0) -> str:
    """The first few problems, how many more (of `count`, if more than listed), and the file
    `listed` that holds them (all, or the first LISTED)."""
    count = max(count, len(problems))
    if count <= SHOWN:
        return "; ".join(problems)
    where = ""
    if listed is not None:
        some = f"the first {len(problems):,}" if count > len(problems) else "all of them"
        where = f" ({some} in {listed})"
    return "; ".join(problems[:SHOWN]) + f"; and {count - SHOWN:,} more{where}"
