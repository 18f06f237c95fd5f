"""Scores a user had before the search (`start: {scores: ...}`): read, checked, looked up.

The scores come from a file of `id,score[,valid,reason]` rows (CSV, xlsx, Parquet, JSON lines) or
from an earlier run's directory (its results.jsonl: every valid item it scored). Each row's
items are looked up in the collection, so the strategy knows their embeddings:

- by id (`fetch`): whole numbers as numbers first, then as text;
- with `key`, by a metadata field (`narrowed` scans): the rows' `id` column holds the
  field's value (a JSON lines row may name it after the key instead; a run directory's
  results give their `metadata.KEY`). Values are text or whole numbers (a whole number
  matches as a number and as text). Every item holding the value gets the row's score.

Ids go to `fetch` (which reads them in batches), key values `LOOKUP_BATCH` per narrowed
scan; both apply the source's filter inside the database, so an item the filter rejects is
not found. Rows whose id or value the collection does not hold are skipped, counted in a
warning (logger `emb_opt.warmstart`); a file none of whose rows is found is refused.
"""

from __future__ import annotations

import logging
import numbers
import re
from pathlib import Path
from typing import Any

from .adapters.base import INT64, VectorDataSource, scan_to_items
from .adapters.remote import RemoteDataSource
from .errors import ConfigError
from .protocols import Fetchable, Narrowable, lacks
from .schemas import Item
from .scorefile import Answer, first_row_number, open_rows, parse_row, problems_text, row_id

RESULTS = "results.jsonl"
LOOKUP_BATCH = 1000  # key values per narrowed scan
LISTED = 10  # ids or values a message names; the rest are counted
WHOLE = re.compile(r"-?[0-9]+")

logger = logging.getLogger(__name__)
Known = list[tuple[Item, float | None, str | None]]


def read_known(path: Path, where: str = "start.scores", key: str | None = None) -> list[Answer]:
    """The (id, score, reason) rows of a scores file or run directory (an id may repeat: its
    valid scores are replicates, averaged); with `key`, the "id" is the row's value of that
    metadata field. A ConfigError naming the bad rows when any is not an id with a finite
    score (or an invalid mark)."""
    in_run = path.is_dir()
    file = path / RESULTS if in_run else path
    if in_run and not file.exists():
        raise ConfigError(f"{where}: {path} is a directory without {RESULTS} (not a finished run)")
    if not path.exists():
        raise ConfigError(f"{where}: no such file or run directory {path}")
    answers, problems = [], []
    with open_rows(file, key) as rows:
        for number, row in enumerate(rows, first_row_number(file)):
            given = None if key is None else _key_value(row, key, in_run)
            if key is not None and given is None:
                problems.append(f"row {number}: no {key!r} value")
                continue
            answer, problem = parse_row(row, None, given)
            if problem:
                problems.append(f"row {number}: {problem}")
            answers.append(answer)
    if problems:
        raise ConfigError(f"{where}: {file}: {problems_text(problems)}")
    if not answers:
        raise ConfigError(f"{where}: {file} holds no scores")
    return answers


def _key_value(row: dict[str, Any], key: str, in_run: bool) -> str | None:
    """A row's value of the metadata field `key`, as text (None: it has none): a run's result
    holds it in its metadata (or, for the item, beside it); a file in its `id` column, or in
    a column named after the key."""
    if in_run:
        value = (row.get("metadata") or {}).get(key, row.get(key))
    else:
        value = row.get("id", row.get(key))
    return None if value is None else row_id({"id": value})


def fetch_known(
    source: object,
    answers: list[Answer],
    where: str = "start.scores",
    key: str | None = None,
    batch: int = LOOKUP_BATCH,
) -> Known:
    """Each row's items with its score: the item of its id, or with `key` every item whose
    metadata field `key` holds its value. Rows found nowhere are skipped with a warning; a
    ConfigError when no row is found, or the source cannot look items up so."""
    texts = list(dict.fromkeys(text for text, _, _ in answers))  # each id once
    if key is None:
        found = _by_id(source, texts, where)
    else:
        found = _by_key(source, texts, key, f"{where} (key: {key})", batch)
    what = "id" if key is None else f"{key} value"
    outside = " (or fails the source's filter)" if _filtered(source) else ""
    missing = [text for text in texts if text not in found]
    if len(missing) == len(texts):
        raise ConfigError(
            f"{where}: no {what} of the file is in the collection{outside}: {_listed(missing)}"
        )
    skipped = sum(text not in found for text, _, _ in answers)
    if skipped:
        rows = "1 row" if skipped == 1 else f"{skipped} rows"
        logger.warning(
            f"{where}: skipped {rows} whose {what} is not in the collection{outside}: "
            f"{_listed(missing)}"
        )
    return [
        (item, score, reason) for text, score, reason in answers for item in found.get(text, ())
    ]


def _listed(texts: list[str]) -> str:
    more = f" and {len(texts) - LISTED} more" if len(texts) > LISTED else ""
    return ", ".join(texts[:LISTED]) + more


def _whole(text: str) -> int | None:
    """The text as an int when it is a whole number of at most 64 bits."""
    if not WHOLE.fullmatch(text):
        return None
    number = int(text)
    return number if INT64[0] <= number <= INT64[1] else None


def _by_id(source: object, texts: list[str], where: str) -> dict[str, list[Item]]:
    """The item of each id the collection holds: whole numbers looked up as numbers, then
    those not found as text."""
    if not isinstance(source, Fetchable):
        raise ConfigError(lacks(where, source, Fetchable))
    numbers = {text: _whole(text) for text in texts}
    asked = [text if number is None else number for text, number in numbers.items()]
    held = _held(source, asked)
    found = {text: [held[i]] for text, i in zip(texts, asked) if i in held}
    again = [text for text in texts if text not in found and numbers[text] is not None]
    held = _held(source, again)
    return found | {text: [held[text]] for text in again if text in held}


def _held(source: Fetchable, ids: list[Any]) -> dict[Any, Item]:
    """The items of those of `ids` the source holds, by id: fetched again without the ids
    an `UnknownIdError` names, or, for an error naming none, in halves down to single ids."""
    if not ids:
        return {}
    try:
        return dict(zip(ids, source.fetch(ids)))
    except (ValueError, KeyError, LookupError) as error:
        unknown = set(getattr(error, "ids", ()))
        kept = [item_id for item_id in ids if item_id not in unknown]
        if unknown and len(kept) < len(ids):
            return _held(source, kept)
        if len(ids) == 1:
            return {}
        half = len(ids) // 2
        return _held(source, ids[:half]) | _held(source, ids[half:])


def _by_key(
    source: object, texts: list[str], key: str, where: str, batch: int
) -> dict[str, list[Item]]:
    """The items whose metadata field `key` holds each value, found by scans narrowed to
    `key` in `batch` of the values (and the source's filter)."""
    if not isinstance(source, Narrowable):
        raise ConfigError(lacks(where, source, Narrowable))
    found: dict[str, list[Item]] = {}
    for start in range(0, len(texts), batch):
        wanted: dict[tuple[str, Any], list[str]] = {}
        for text in texts[start : start + batch]:
            wanted.setdefault(("str", text), []).append(text)
            if (number := _whole(text)) is not None:
                wanted.setdefault(("int", number), []).append(text)
        for scanned in source.narrowed(_in_filter(key, wanted)).scan():
            for item in scan_to_items(scanned):
                for text in wanted.get(_match_key(_field(item, key, source)), ()):
                    found.setdefault(text, []).append(item)
    return found


def _in_filter(key: str, wanted: dict[tuple[str, Any], list[str]]) -> dict[str, Any]:
    """`key` holding one of the wanted values: `$in` the texts, or the whole numbers."""
    texts = [value for kind, value in wanted if kind == "str"]
    whole = [value for kind, value in wanted if kind == "int"]
    if not whole:
        return {key: {"$in": texts}}
    return {"$or": [{key: {"$in": texts}}, {key: {"$in": whole}}]}


def _filtered(source: object) -> bool:
    """Does `source` apply a metadata filter?"""
    return isinstance(source, VectorDataSource) and source.has_filter


def _field(item: Item, key: str, source: object) -> Any:
    """The item's value of `key`: in its metadata, or the item itself when the source keeps
    it under that key."""
    data = item.data or {}
    if key in data:
        return data[key]
    return item.item if isinstance(source, RemoteDataSource) and source.item_key == key else None


def _match_key(value: Any) -> tuple[str, Any]:
    """How `_by_key` matches a stored value: text as text, a whole number as a number
    (anything else matches no value)."""
    if isinstance(value, str):
        return "str", value
    if isinstance(value, bool):
        return "other", value
    if isinstance(value, numbers.Integral):
        return "int", int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return "int", int(float(value))
    return "other", None
