"""Generated corpora: random embeddings with random-string items and a `rand` metadata field."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Corpus:
    """Vectors plus per-row items and metadata, as the in-process adapters take them."""

    embeddings: np.ndarray
    items: list[str]
    metadata: list[dict]


def random_corpus(n: int, dimension: int = 64, seed: int = 0) -> Corpus:
    """`n` standard-normal vectors (float32) with 10-letter items and `rand` ~ U(0, 1)."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, dimension), dtype=np.float32)
    letters = rng.integers(0, 26, size=(n, 10), dtype=np.uint8) + ord("a")
    items = letters.view("S10").ravel().astype(str).tolist()
    rand = rng.random(n)
    return Corpus(embeddings, items, [{"rand": float(r)} for r in rand])
