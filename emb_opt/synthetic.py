"""Generated corpora: random embeddings with random-string items and a `rand` metadata field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Corpus:
    """Vectors plus per-row items and metadata, as the in-process adapters take them."""

    embeddings: np.ndarray
    items: list[Any]
    metadata: list[dict]
    centres: np.ndarray | None = None  # cluster centres, for corpora generated in clusters


def random_corpus(n: int, dimension: int = 64, seed: int = 0) -> Corpus:
    """`n` standard-normal vectors (float32) with 10-letter items and `rand` ~ U(0, 1)."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, dimension), dtype=np.float32)
    letters = rng.integers(0, 26, size=(n, 10), dtype=np.uint8) + ord("a")
    items = letters.view("S10").ravel().astype(str).tolist()
    rand = rng.random(n)
    return Corpus(embeddings, items, [{"rand": float(r)} for r in rand])


def clustered_corpus(
    n: int,
    dimension: int = 64,
    clusters: int = 8,
    sparse_fraction: float = 0.05,
    radius: float = 8.0,
    seed: int = 0,
) -> Corpus:
    """`clusters` unit-variance Gaussian clusters whose centres sit at `radius` in random
    directions; cluster 0 is a sparse region holding only `sparse_fraction` of the rows, the
    others share the rest equally. Metadata: `rand` ~ U(0, 1) and `cluster`; `centres` is set.
    """
    if clusters < 2 or not 0 < sparse_fraction < 1:
        raise ValueError(
            f"need clusters >= 2 and 0 < sparse_fraction < 1, got {clusters}, {sparse_fraction}"
        )
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((clusters, dimension))
    centres = radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    sizes = np.full(clusters, int(n * (1 - sparse_fraction)) // (clusters - 1))
    sizes[0] = n - sizes[1:].sum()
    labels = np.repeat(np.arange(clusters), sizes)
    noise = rng.standard_normal((n, dimension), dtype=np.float32)
    embeddings = (centres[labels] + noise).astype(np.float32)
    letters = rng.integers(0, 26, size=(n, 10), dtype=np.uint8) + ord("a")
    items = letters.view("S10").ravel().astype(str).tolist()
    rand = rng.random(n).tolist()
    metadata = [{"rand": r, "cluster": c} for r, c in zip(rand, labels.tolist())]
    return Corpus(embeddings, items, metadata, centres)
