"""Scores a user had before the search (`start: {scores: ...}`): read, checked, fetched.

The scores come from a file of `id,score[,valid,reason]` rows (CSV, xlsx, Parquet, JSON lines) or
from an earlier run's directory (its results.jsonl: every valid item it scored). The items
are fetched from the collection by id, so the strategy knows their embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError
from .protocols import Fetchable, lacks
from .schemas import Item
from .scorefile import Answer, first_row_number, open_rows, parse_row, problems_text

RESULTS = "results.jsonl"


def read_known(path: Path, where: str = "start.scores") -> list[Answer]:
    """The (id, score, reason) rows of a scores file or run directory (an id may repeat: its
    valid scores are replicates, averaged); a ConfigError naming the bad rows when any is
    not an id with a finite score (or an invalid mark)."""
    file = path / RESULTS if path.is_dir() else path
    if path.is_dir() and not file.exists():
        raise ConfigError(f"{where}: {path} is a directory without {RESULTS} (not a finished run)")
    if not path.exists():
        raise ConfigError(f"{where}: no such file or run directory {path}")
    answers, problems = [], []
    with open_rows(file) as rows:
        for number, row in enumerate(rows, first_row_number(file)):
            answer, problem = parse_row(row, None)
            if problem:
                problems.append(f"row {number}: {problem}")
            answers.append(answer)
    if problems:
        raise ConfigError(f"{where}: {file}: {problems_text(problems)}")
    if not answers:
        raise ConfigError(f"{where}: {file} holds no scores")
    return answers


def fetch_known(
    source: object, answers: list[Answer], where: str = "start.scores"
) -> list[tuple[Item, float | None, str | None]]:
    """Each known item, fetched from `source` by id, with its score; a ConfigError naming
    the ids the collection does not hold."""
    if not isinstance(source, Fetchable):
        raise ConfigError(lacks(where, source, Fetchable))
    texts = list(dict.fromkeys(id for id, _, _ in answers))  # each id once
    items = _lookup(source, texts)
    if items is None:
        missing = _missing(source, texts)
        raise ConfigError(
            f"{where}: ids not in the collection: {', '.join(missing[:10])}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        )
    by_id = dict(zip(texts, items))
    return [(by_id[id], score, reason) for id, score, reason in answers]


def _lookup(source: Fetchable, texts: list[str]) -> list[Item] | None:
    """The items with these ids, whole numbers looked up as numbers first (None when the
    collection lacks any of them)."""
    items = _fetch(source, [_as_collection_id(text) for text in texts])
    return items if items is not None else _fetch(source, texts)


def _missing(source: Fetchable, texts: list[str]) -> list[str]:
    """The ids of `texts` the collection lacks (halving: few database calls for few)."""
    if _lookup(source, texts) is not None:
        return []
    if len(texts) == 1:
        return texts
    half = len(texts) // 2
    return _missing(source, texts[:half]) + _missing(source, texts[half:])


def _fetch(source: Fetchable, ids: list[Any]) -> list[Item] | None:
    """The items with `ids` (None when the collection lacks any of them)."""
    try:
        items = source.fetch(ids)
    except (ValueError, KeyError, LookupError):
        return None
    return items if len(items) == len(ids) else None


def _as_collection_id(text: str) -> int | str:
    """An id as the collection most likely holds it: whole numbers as int."""
    return int(text) if text.lstrip("-").isdigit() else text
