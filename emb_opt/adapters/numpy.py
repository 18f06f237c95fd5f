"""NumpyDataSource: exact kNN over an in-memory matrix (euclidean, cosine or inner product)."""

from __future__ import annotations

import mmap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend
from .base import QueryHits, check_metric, l2_to_distance
from .rows import RowDataSource, Rows, RowTable
from .servers import adapter_options
from .spec import SourceSpec


@dataclass(frozen=True)
class MappedMatrix:
    """Where a float32 matrix memory-mapped from a file lies: it travels as this, not copied."""

    file: str
    offset: int
    shape: tuple[int, ...]

    @classmethod
    def of(cls, array: np.ndarray) -> MappedMatrix | None:
        """The file region `array` views, if it is a C-contiguous view of a memory map."""
        root: Any = array  # the memmap over the mmap itself (its slices copy its offset)
        while isinstance(root, np.ndarray) and not isinstance(root.base, mmap.mmap):
            root = root.base
        if not isinstance(root, np.memmap) or root.filename is None:
            return None
        if array.dtype != np.float32 or not array.flags.c_contiguous:
            return None
        start = root.offset + array.ctypes.data - root.ctypes.data
        return cls(str(root.filename), start, array.shape)

    def open(self) -> np.ndarray:
        """The matrix, mapped read-only from the file again."""
        return np.asarray(
            np.memmap(self.file, dtype=np.float32, mode="r", offset=self.offset, shape=self.shape)
        )


class NumpyDataSource(RowDataSource):
    """Brute-force search over `embeddings`; the filter masks rows before ranking.

    Distances: euclidean for "l2", 1 - cosine similarity for "cosine", minus the dot
    product for "ip" (smaller is always closer).
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        k: int = 10,
        metric: str = "l2",
        ids: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        filter: Any = None,
        distance_cutoff: float | None = None,
    ) -> None:
        """A source over the rows of `embeddings`.

        Args:
            embeddings: an (n, dimension) matrix, one row per item.
            k: results per query.
            metric: "l2", "cosine" or "ip".
            ids, items, metadata: per-row values (ids default to the row numbers; metadata dicts
                are what the filter reads).
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            distance_cutoff: results farther than this are dropped (None: none are).
        """
        super().__init__(k, filter, distance_cutoff)
        matrix = np.asarray(embeddings, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise ValueError(f"embeddings must be a non-empty 2-D array, got shape {matrix.shape}")
        self.metric = check_metric(metric)
        self.embeddings = matrix
        self.rows = RowTable(len(matrix), ids, items, metadata)
        self._unit_rows()
        self._squared_norms = np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64)

    def _unit_rows(self) -> None:
        if self.metric == "cosine":
            norms = np.linalg.norm(self.embeddings, axis=1, keepdims=True)
            self._unit = self.embeddings / np.where(norms == 0, 1, norms)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the unit rows (made again); a memory-mapped matrix as its file."""
        state = self.__dict__.copy()
        state.pop("_unit", None)
        mapped = MappedMatrix.of(self.embeddings)
        if mapped is not None:
            state["embeddings"] = mapped
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if isinstance(self.embeddings, MappedMatrix):
            self.embeddings = self.embeddings.open()
        self._unit_rows()

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def _distances(self, queries: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """(n_queries, n_rows) distances to the candidate rows (all rows when None)."""
        if self.metric == "cosine":
            norms = np.linalg.norm(queries, axis=1, keepdims=True)
            unit = self._unit if rows is None else self._unit[rows]
            return 1.0 - (queries / np.where(norms == 0, 1, norms)) @ unit.T
        matrix = self.embeddings if rows is None else self.embeddings[rows]
        if self.metric == "ip":
            return -(queries @ matrix.T)
        squared = self._squared_norms if rows is None else self._squared_norms[rows]
        queries64 = queries.astype(np.float64)
        products = queries64 @ matrix.T.astype(np.float64)
        return l2_to_distance(squared[None, :] - 2.0 * products + (queries64**2).sum(1)[:, None])

    def _nearest(
        self, queries: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        candidates = np.flatnonzero(allowed) if allowed is not None else None
        distances = self._distances(queries, candidates)
        k = min(self.k, distances.shape[1])
        if k:
            top = np.argpartition(distances, k - 1, axis=1)[:, :k]
        else:
            top = np.empty((len(queries), 0), dtype=np.intp)
        top_d = np.take_along_axis(distances, top, axis=1)
        order = np.argsort(top_d, axis=1, kind="stable")
        top, top_d = (
            np.take_along_axis(top, order, axis=1),
            np.take_along_axis(top_d, order, axis=1),
        )
        rows = np.full((len(queries), self.k), -1, dtype=np.int64)
        padded = np.full((len(queries), self.k), np.inf)
        rows[:, :k] = top if candidates is None else candidates[top]
        padded[:, :k] = top_d
        return padded, rows

    def _fetch(self, rows: Rows, distances: np.ndarray) -> QueryHits:
        return self.rows.hits(rows, distances, self.embeddings[rows])


def connect(source: SourceSpec) -> NumpyDataSource:
    """The adapter over `source.data`, held in memory."""
    given = ("k", "items", "metadata", "filter")
    options = adapter_options(NumpyDataSource, source.options, given)
    corpus = source.corpus()
    return NumpyDataSource(
        corpus.embeddings,
        k=source.k,
        items=corpus.items,
        metadata=corpus.metadata,
        filter=source.filter,
        **options,
    )


BACKEND = Backend(
    name="numpy", extra=None, packages=("numpy",), adapter=NumpyDataSource, connect=connect
)
