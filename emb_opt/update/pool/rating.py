"""Rating a scan: predict every item with the model, drop the scored ones, keep the best.

A `RatingJob` is everything a process needs to rate one part of a collection: the fitted
model, the acquisition, how many rows to keep and the ids already scored. It is small and
picklable, so a Ray worker receives it once per round.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ...protocols import SCAN_BATCH, Describable, Partition, Partitioned, ScanBatch, Scannable
from .. import acquisition as acq
from ..inputs import ModelInputs
from ..regressors import RandomFeatureEnsemble
from .shortlist import ROW_BITS, Shortlist, merge


@dataclass(frozen=True)
class ScoredIds:
    """The ids already scored, as sorted arrays of the int and the string ids, so a batch of
    int or string ids is checked in one numpy call (other ids by their key)."""

    ints: np.ndarray
    strings: np.ndarray
    keys: frozenset[str]  # every key, for ids of other types

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> ScoredIds:
        """From item keys (`repr(id)`, see `emb_opt.log.item_key`)."""
        keys = frozenset(keys)
        values = [_literal(key) for key in keys]
        ints = [v for v in values if type(v) is int and -(2**63) <= v < 2**63]
        strings = [v for v in values if type(v) is str]
        return cls(np.unique(np.array(ints, np.int64)), np.unique(np.array(strings, str)), keys)

    def mask(self, ids: Sequence[Any]) -> np.ndarray:
        """True where the id was scored: one binary search for a batch of int or string ids
        (whose keys are their literals), a lookup per id otherwise."""
        column = _column(ids)
        if column is not None and column.dtype.kind in "iu":
            return _among(self.ints, column)
        if column is not None and column.dtype.kind == "U":
            return _among(self.strings, column)
        return np.fromiter((repr(i) in self.keys for i in ids), dtype=bool, count=len(ids))


def _column(ids: Sequence[Any]) -> np.ndarray | None:
    """The ids as a flat numpy array, or None when they do not make one."""
    try:
        column = np.asarray(ids) if len(ids) else np.empty(0, np.int64)
    except ValueError:  # ids of several shapes
        return None
    return column if column.ndim == 1 else None


def _among(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """True where a value is one of the sorted unique `keys` (`np.isin` without sorting them
    again for every batch)."""
    if not len(keys):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    return np.asarray(keys[at] == values)


def _literal(key: str) -> Any:
    try:
        return ast.literal_eval(key)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


@dataclass(frozen=True)
class RatingJob:
    """Rate items with `model` by `acquisition` (and `beta`), keep the `size` best unscored."""

    model: RandomFeatureEnsemble
    acquisition: acq.Acquisition
    beta: float
    size: int
    scored: ScoredIds
    batch_size: int = SCAN_BATCH
    inputs: ModelInputs = dataclasses.field(default_factory=ModelInputs)  # what the model reads
    # scan only these fields, as columns (None: every stored field); the shortlist's items
    # then carry none, and whoever scores them fetches them whole
    projection: tuple[str, ...] | None = None

    def rate(self, batches: Iterable[ScanBatch], part: int = 0) -> Shortlist:
        """The shortlist of the scan `batches` of part number `part`.

        Once `size` rows are kept, only a row rated above the last of them can enter (a tie
        loses to the earlier row): the scored check and the merge see only those rows.
        """
        kept: Shortlist | None = None
        offset = 0
        for batch in batches:
            n = len(batch.ids)
            inputs = self.inputs(batch.embeddings, batch.metadata, batch.columns)
            predictions = self.model.predict(inputs)
            value = acq.values(predictions, self.acquisition, self.beta).astype(np.float64)
            position = (part << ROW_BITS) + offset + np.arange(n, dtype=np.int64)
            offset += n
            bar = kept.value[-1] if kept is not None and len(kept) >= self.size else -np.inf
            above = np.flatnonzero(value > bar)
            if kept is not None and not len(above):
                kept = dataclasses.replace(kept, reads=kept.reads + 1)
                continue
            scored = self.scored.mask([batch.ids[i] for i in above.tolist()])
            fresh = above[~scored]
            rows = fresh[_top_rows(value[fresh], self.size)]
            found = Shortlist.from_batch(batch, rows, predictions, value, position)
            kept = found if kept is None else merge([kept, found], self.size)
        return kept if kept is not None else Shortlist.empty(0, self.model.weights.shape[1])

    def rate_partition(self, source: Scannable, partition: Partition) -> Shortlist:
        """The shortlist of one part of `source`'s scan (a part without bounds: all of it,
        so a plain `Scannable` source works too; a part with bounds came from a
        `Partitioned` one)."""
        projected = self.projection is not None and isinstance(source, Describable)
        read = {"fields": self.projection} if projected else {}
        if partition.bounds is None:
            return self.rate(source.scan(self.batch_size, **read), partition.number)
        parted = cast(Partitioned, source)  # only a Partitioned source gives parts bounds
        return self.rate(parted.scan(self.batch_size, partition, **read), partition.number)


def _top_rows(value: np.ndarray, size: int) -> np.ndarray:
    """Indices of at most `size` of the highest values (ties: earlier rows), unordered."""
    if size >= len(value):
        return np.arange(len(value))
    kth = np.partition(value, len(value) - size)[len(value) - size]
    above = np.flatnonzero(value > kth)
    ties = np.flatnonzero(value == kth)[: size - len(above)]
    return np.concatenate([above, ties])


def rate_all(source: Scannable, job: RatingJob, partitions: Collection[Partition]) -> Shortlist:
    """Rate every part in this process, one after another, and merge."""
    found = [job.rate_partition(source, p) for p in partitions]
    return merge(found, job.size) if found else Shortlist.empty(0, job.model.weights.shape[1])
