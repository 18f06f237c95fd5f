"""The conformance corpus: awkward metadata every backend must filter exactly like the reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..schemas import Query

# Strings that break naive escaping, quoting or LIKE patterns.
TRICKY_STRINGS = (
    "red",
    "blue",
    'say "hi"',
    "it's",
    "back\\slash",
    "trailing\\",
    "new\nline",
    "tab\tand\rreturn",
    "ünïcødé ✓ 漢字",
    "100%",
    "a_b",
    '") or true or ("',
    "' or 1=1 --",
    "",
)
RARE_BUCKET = 7  # `bucket == RARE_BUCKET` matches 0.1% of the corpus


@dataclass(frozen=True)
class ConformanceCorpus:
    """Vectors with ids and per-row metadata (None values stand for null; absent keys, missing)."""

    embeddings: np.ndarray
    ids: list[Any]
    metadata: list[dict[str, Any]]

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])


def _maybe(rng: np.random.Generator, value: Any, row: dict[str, Any], key: str) -> None:
    """Store `value`, or leave the key missing (6%), or store null (6%)."""
    draw = rng.random()
    if draw < 0.06:
        return
    row[key] = None if draw < 0.12 else value


def conformance_corpus(n: int = 2000, dimension: int = 8, seed: int = 11) -> ConformanceCorpus:
    """A seeded corpus: floats, ints, bools and tricky strings with missing and null values.

    Fields: `rand` (float in [0, 1)), `n` (int 0..9), `price` (float, whole numbers for a
    third of the rows), `flag` (bool), `tag` (one of TRICKY_STRINGS), `bucket` (int 0..999,
    never missing, so `bucket == 7` matches exactly 0.1%).
    """
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, dimension)).astype(np.float32)
    metadata = []
    for i in range(n):
        row: dict[str, Any] = {"bucket": i % 1000}
        _maybe(rng, float(rng.random()), row, "rand")
        _maybe(rng, int(rng.integers(0, 10)), row, "n")
        price = (
            float(rng.integers(0, 50))
            if rng.random() < 0.33
            else round(float(rng.random() * 50), 3)
        )
        _maybe(rng, price, row, "price")
        _maybe(rng, bool(rng.random() < 0.5), row, "flag")
        _maybe(rng, TRICKY_STRINGS[int(rng.integers(0, len(TRICKY_STRINGS)))], row, "tag")
        metadata.append(row)
    return ConformanceCorpus(embeddings, list(range(n)), metadata)


def query_batch(corpus: ConformanceCorpus, count: int = 4, seed: int = 5) -> list[Query]:
    """`count` random queries of the corpus's dimension (the same ones for the same seed)."""
    rng = np.random.default_rng(seed)
    return [Query(embedding=e) for e in rng.standard_normal((count, corpus.dimension))]


# the fields of `fields_corpus`: name -> (kind, width) as `stored_fields` must report them
STORED_KINDS = {
    "weight": ("number", 1),
    "count": ("number", 1),
    "group": ("number", 1),
    "profile": ("vector", 3),
    "label": ("text", 0),
    "code": ("text", 0),
    "flag": ("other", 0),
    "constant": ("number", 1),
    "rare": ("number", 1),
}
NUMERIC_FIELDS = ("weight", "count", "group", "profile", "constant", "rare")


def fields_corpus(n: int = 300, dimension: int = 8, seed: int = 23) -> ConformanceCorpus:
    """A seeded corpus of every kind of field `stored_fields` tells apart (`STORED_KINDS`).

    `weight` (float) and `group` (int 0..4) on every row, `count` (int 0..99, null on 5%),
    `profile` (a list of 3 floats: a vector field), `label` (text), `code` (numbers stored
    as strings: text), `flag` (bool: other), `constant` (2.5 on every row) and `rare` (a
    float on 4% of the rows, missing on the others).
    """
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, dimension)).astype(np.float32)
    metadata = []
    for i in range(n):
        row: dict[str, Any] = {
            "weight": float(rng.random() * 100),
            "group": i % 5,
            "count": None if rng.random() < 0.05 else int(rng.integers(0, 100)),
            "profile": [float(x) for x in rng.standard_normal(3)],
            "label": TRICKY_STRINGS[i % len(TRICKY_STRINGS)],
            "code": str(int(rng.integers(0, 1000))),
            "flag": bool(i % 3 == 0),
            "constant": 2.5,
        }
        if i % 23 == 3:
            row["rare"] = float(rng.random())
        metadata.append(row)
    return ConformanceCorpus(embeddings, list(range(n)), metadata)
