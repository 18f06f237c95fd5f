"""Files of scores: `id,score[,valid,reason]` rows in CSV, Parquet or JSON lines.

`emb-opt tell` reads the scores of asked items with them, and `start: {scores: ...}` the
scores a user had before the search.
"""

from __future__ import annotations

import csv
import json
import math
import re
import reprlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from .calls import as_score
from .errors import ConfigError

Answer = tuple[str, float | None, str | None]  # id, score (None: invalid), reason
COLUMNS = "id,score[,valid,reason]"
SHOWN = 5  # problems a message lists; the rest are counted
NUMBER = re.compile(
    r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*|\s*[+-]?(nan|inf|infinity)\s*", re.I | re.ASCII
)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a scores file (a ConfigError naming it when it cannot be read or lacks
    the id and score columns)."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        elif path.suffix == ".jsonl":
            rows = _jsonl(path, path.read_text(encoding="utf-8"))
        else:
            rows = _csv(path)
    except OSError as error:
        raise ConfigError(f"cannot read the scores file {path}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error, ValueError) as error:
        raise ConfigError(f"{path}: cannot read it as {path.suffix[1:]}: {error}") from None
    if path.suffix != ".jsonl" and rows and not {"id", "score"} <= set(rows[0]):
        raise ConfigError(
            f"{path}: expected the columns {COLUMNS}, got {','.join(map(str, rows[0]))}"
        )
    return rows


def first_row_number(path: Path) -> int:
    """The line number of the first row (a CSV file's header is line 1)."""
    return 2 if path.suffix == ".csv" else 1


def _csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV file, parsed from the file itself so that any text in a quoted field
    (line separators, form feeds, fields over 128 KiB) comes back as written."""
    with open(path, newline="", encoding="utf-8") as handle, _no_field_limit():
        return list(csv.DictReader(handle))


@contextmanager
def _no_field_limit() -> Iterator[None]:
    """Within, the csv module reads fields of any size (its default stops at 128 KiB)."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 is text
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}: line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: line {number} is not a JSON object with {COLUMNS}")
        rows.append(row)
    return rows


def row_id(row: dict[str, Any], known: set[str] | frozenset[str] = frozenset()) -> str:
    """The id of a row, as text: as written when `known` holds it, else without the spaces
    an editor may have added around it."""
    given = str(row.get("id", ""))
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
    if reason is not None:
        return (id, None, reason), None
    raw = row.get("score")
    if raw is None or str(raw).strip() == "":
        return nothing, f"id {shown(id)} has no score (give a reason, or valid=false, if none)"
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
            return math.nan, ", which is not a number"
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


def problems_text(problems: list[str], listed: Path | None = None) -> str:
    """The first few problems, how many more, and the file `listed` that holds them all."""
    if len(problems) <= SHOWN:
        return "; ".join(problems)
    where = f" (all of them in {listed})" if listed is not None else ""
    return "; ".join(problems[:SHOWN]) + f"; and {len(problems) - SHOWN:,} more{where}"
