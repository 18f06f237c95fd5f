"""Files of scores: `id,score[,valid,reason]` rows in CSV, Parquet or JSON lines.

`emb-opt tell` reads the scores of asked items with them, and `start: {scores: ...}` the
scores a user had before the search.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .asktell import score_problem
from .errors import ConfigError

Answer = tuple[str, float | None, str | None]  # id, score (None: invalid), reason
COLUMNS = "id,score[,valid,reason]"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a scores file (a ConfigError naming it when it cannot be read or lacks
    the id and score columns)."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        else:
            text = path.read_text()
            rows = _jsonl(path, text) if path.suffix == ".jsonl" else _csv(text)
    except OSError as error:
        raise ConfigError(f"cannot read the scores file {path}: {error.strerror}") from None
    if path.suffix != ".jsonl" and rows and not {"id", "score"} <= set(rows[0]):
        raise ConfigError(
            f"{path}: expected the columns {COLUMNS}, got {','.join(map(str, rows[0]))}"
        )
    return rows


def first_row_number(path: Path) -> int:
    """The line number of the first row (a CSV file's header is line 1)."""
    return 2 if path.suffix == ".csv" else 1


def _csv(text: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(text.splitlines()))


def _jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
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


def row_id(row: dict[str, Any]) -> str:
    """The id of a row, as text."""
    return str(row.get("id", "")).strip()


def parse_row(row: dict[str, Any], seen: set[str]) -> tuple[Answer, str | None]:
    """(id, score, reason) of one row, or the problem with it; `seen` collects the ids."""
    id = row_id(row)
    nothing = (id, None, None)
    if not id:
        return nothing, "the row has no id"
    if id in seen:
        return nothing, f"id {id!r} appears twice"
    seen.add(id)
    reason = str(row.get("reason") or "").strip() or None
    if str(row.get("valid", "")).strip().lower() in ("false", "0", "no"):
        return (id, None, reason or "marked invalid"), None
    if reason is not None:
        return (id, None, reason), None
    raw = row.get("score")
    if raw is None or str(raw).strip() == "":
        return nothing, f"id {id!r} has no score (give a reason, or valid=false, if none)"
    try:
        score = float(raw)
    except (TypeError, ValueError):
        return nothing, f"id {id!r} has score {raw!r}, which is not a number"
    if score_problem(score) is not None:
        return nothing, f"id {id!r} has score {raw!r}; scores must be finite"
    return (id, score, None), None


def problems_text(problems: list[str]) -> str:
    """The first five problems, and how many more."""
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return "; ".join(problems[:5]) + more
