"""NumpyDataSource: exact kNN over a matrix (euclidean, cosine or inner product), in memory or
memory-mapped from an .npy file (`np.load(path, mmap_mode="r")`): then nothing is read until
used, a scan holds one batch of the file, and another process maps the file again."""

from __future__ import annotations

import functools
import mmap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend
from .base import QueryHits, check_metric, l2_to_distance
from .rows import RowDataSource, Rows, RowTable, row_count
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
        """The file region `array` views, if it is a C-contiguous view of a shared memory map
        (a copy-on-write one may differ from its file)."""
        root = _memmap_under(array)
        if root is None or root.mode == "c" or root.filename is None:
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


RELEASE_BYTES = 1 << 26  # a memory-mapped scan lets go of its pages after reading this much
DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)  # None where madvise is missing


class NumpyDataSource(RowDataSource):
    """Brute-force search over `embeddings`; the filter masks rows before ranking.

    Distances: euclidean for "l2", 1 - cosine similarity for "cosine", minus the dot
    product for "ip" (smaller is always closer).
    """

    fetch_skips_metadata = True

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
            embeddings: an (n, dimension) matrix, one row per item (a memory map of a file
                stays there: `np.load(path, mmap_mode="r")`).
            k: results per query.
            metric: "l2", "cosine" or "ip".
            ids: one per row (default: the row numbers).
            items: one per row, the items themselves.
            metadata: one dict per row, what the filter reads.
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

    @functools.cached_property
    def _unit(self) -> np.ndarray:
        """The rows scaled to unit length (for "cosine"; made at the first search)."""
        norms = np.linalg.norm(self.embeddings, axis=1, keepdims=True)
        return self.embeddings / np.where(norms == 0, 1, norms)

    @functools.cached_property
    def _squared_norms(self) -> np.ndarray:
        """The rows' squared lengths (for "l2"; made at the first search)."""
        return np.einsum("ij,ij->i", self.embeddings, self.embeddings, dtype=np.float64)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without what is made again; a memory-mapped matrix as its file."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_unit", "_squared_norms")}
        mapped = MappedMatrix.of(self.embeddings)
        if mapped is not None:
            state["embeddings"] = mapped
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if isinstance(self.embeddings, MappedMatrix):
            self.embeddings = self.embeddings.open()

    def _row_batches(self, batch_size: int, bounds: Any = None) -> Iterator[Rows]:
        """The rows of a scan; a read-only memory-mapped matrix's pages leave this process
        after every `RELEASE_BYTES` read (the system still caches them), so a scan holds at
        most that much of the file, not all of it."""
        root = _memmap_under(self.embeddings)
        read_only = root is not None and root.mode == "r" and DONTNEED is not None
        pages = root.base if root is not None and read_only else None
        held = 0
        for rows in super()._row_batches(batch_size, bounds):
            yield rows
            held += row_count(rows) * self.embeddings.itemsize * self.dimension
            if isinstance(pages, mmap.mmap) and held >= RELEASE_BYTES:
                pages.madvise(DONTNEED)
                held = 0

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

    def _fetch(self, rows: Rows, distances: np.ndarray, metadata: bool = True) -> QueryHits:
        return self.rows.hits(rows, distances, self.embeddings[rows], metadata)


def _memmap_under(array: np.ndarray) -> np.memmap | None:
    """The `np.memmap` over the file mapping that `array` views, if any (the one whose base is
    the mapping: its slices copy its offset)."""
    root: Any = array
    while isinstance(root, np.ndarray) and not isinstance(root.base, mmap.mmap):
        root = root.base
    return root if isinstance(root, np.memmap) else None


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
