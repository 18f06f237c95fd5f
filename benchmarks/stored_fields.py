"""What a benchmark collection stores beside its vectors: real fields, fields that carry
nothing, and the metadata variants that combine them.

    from benchmarks.stored_fields import Collection, noise_columns, variants
    variants("descriptors")          # ("descriptors", "descriptors+noise", "noise", "none")
    noise_columns(5)                 # {"record_id": ..., "unit_price": ..., ...}
    data.stored("descriptors+noise") # one dict per row, or None for "none"

A variant names what each item stores, as separate named numbers (as a database keeps
them): its real fields (a molecule's descriptors, a diamond's measurements; the variant
that holds them is named after them), the `NOISE` fields that carry nothing about any
objective, both ("<real>+noise"), or nothing ("none"). The noise is drawn once per collection
from `NOISE_SEED`, independent of the items and of the search seed.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

NOISE_SEED = 20_240_533
NOISE = ("record_id", "unit_price", "batch_number", "site", "shuffle_rank")
NOISE_NOTES = (
    "a random id (unique 9-digit integers)",
    "a price (log-normal, 2 decimals)",
    "a batch number (1 to 200)",
    "a constant (1.0)",
    "the rank of a random permutation",
)

Rows = list[dict[str, Any]]


def variants(real: str) -> tuple[str, ...]:
    """Every metadata variant of a collection whose real fields are called `real`."""
    return (real, f"{real}+noise", "noise", "none")


def stores(variant: str, real: str) -> tuple[bool, bool]:
    """(stores the real fields, stores the noise fields) of a variant."""
    known = dict(zip(variants(real), ((True, False), (True, True), (False, True), (False, False))))
    if variant not in known:
        raise ValueError(f"unknown metadata variant {variant!r}; expected one of {list(known)}")
    return known[variant]


def noise_columns(n: int, seed: int = NOISE_SEED) -> dict[str, np.ndarray]:
    """The `NOISE` fields of n items: values that say nothing about the items."""
    rng = np.random.default_rng(seed)
    return {
        "record_id": rng.choice(900_000_000, n, replace=False) + 100_000_000,
        "unit_price": np.round(rng.lognormal(3.0, 1.0, n), 2),
        "batch_number": rng.integers(1, 201, n),
        "site": np.ones(n),
        "shuffle_rank": rng.permutation(n),
    }


def records(columns: dict[str, np.ndarray]) -> Rows | None:
    """One dict per item (Python numbers), or None when no field is stored."""
    if not columns:
        return None
    lists = {name: column.tolist() for name, column in columns.items()}
    return [dict(zip(lists, values)) for values in zip(*lists.values())]


class Collection:
    """A benchmark collection: embeddings, objectives, real fields, a FAISS index.

    Subclasses set `REAL` (the real fields' variant name), `embeddings`, `objectives`, and
    implement `real_fields()`."""

    REAL = "fields"
    embeddings: np.ndarray
    objectives: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.embeddings)

    def real_fields(self) -> dict[str, np.ndarray]:
        """The real fields every item stores, one column per name."""
        raise NotImplementedError

    def stored_columns(self, variant: str) -> dict[str, np.ndarray]:
        """The columns a metadata variant stores."""
        real, noise = stores(variant, self.REAL)
        columns = self.real_fields() if real else {}
        return columns | (noise_columns(len(self)) if noise else {})

    def stored(self, variant: str) -> Rows | None:
        """What each item stores beside its vector under a variant (None: nothing)."""
        if variant not in self._stored:
            self._stored[variant] = records(self.stored_columns(variant))
        return self._stored[variant]

    @cached_property
    def _stored(self) -> dict[str, Rows | None]:
        return {}

    @cached_property
    def index(self) -> Any:
        """A FAISS flat L2 index over the embeddings (built on first use)."""
        import faiss

        index = faiss.IndexFlatL2(self.embeddings.shape[1])
        index.add(self.embeddings)
        return index

    @cached_property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """5,000 random rows and the rows of their 10 nearest other items."""
        rows = np.random.default_rng(0).choice(len(self), min(5_000, len(self)), replace=False)
        _, near = self.index.search(self.embeddings[rows], 11)
        return rows, near[:, 1:]


class WithFields(Collection):
    """A collection's embeddings with the columns a variant stores appended (each
    standardised over the collection, the block weighing as much as the embedding in
    distances, as the guided model weighs its fields): for baselines that read the fields."""

    def __init__(self, data: Collection, variant: str) -> None:
        from emb_opt.update.regressors import median_distance

        columns = np.column_stack(list(data.stored_columns(variant).values()))
        spread = columns.std(axis=0)
        standard = (columns - columns.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
        typical = median_distance(data.embeddings, np.random.default_rng(0))
        block = standard * typical / np.sqrt(2 * standard.shape[1])
        self.embeddings = np.hstack([data.embeddings, block]).astype(np.float32)
        self.objectives = data.objectives


def neighbour_agreement(data: Collection, values: np.ndarray) -> float:
    """Correlation of an item's value with the mean of its nearest neighbours' values.

    Over `data.neighbours`' sample of rows. A smoothness measure of the objective over the
    embedding: near 1 is smooth, near 0 rough.
    """
    rows, near = data.neighbours
    return float(np.corrcoef(values[rows], values[near].mean(axis=1))[0, 1])
