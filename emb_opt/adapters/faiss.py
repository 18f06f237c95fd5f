"""FaissDataSource: any FAISS index, with the filter applied inside the search by an ID selector."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import UnsupportedFilterError, missing_dependency
from .backend import Backend
from .base import QueryHits, l2_to_distance
from .rows import RowDataSource, Rows, RowTable
from .servers import adapter_options
from .spec import SourceSpec

EXACT_BELOW = 20_000  # rows; a filter this selective is searched exactly on approximate indexes


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise missing_dependency("faiss-cpu", "faiss") from None
    return faiss


def metric_name(index: Any) -> str:
    faiss = import_faiss()
    names = {faiss.METRIC_L2: "l2", faiss.METRIC_INNER_PRODUCT: "ip"}
    if index.metric_type not in names:
        raise ValueError(
            f"FAISS metric type {index.metric_type} is not supported; expected L2 or inner product"
        )
    return names[index.metric_type]


def is_exact(index: Any) -> bool:
    """Whether the index answers kNN exactly (a flat index)."""
    faiss = import_faiss()
    return isinstance(faiss.downcast_index(index), faiss.IndexFlat)


def search_index(
    index: Any,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    exact_below: int = EXACT_BELOW,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest rows per query among the `allowed` rows: (distances, rows), -1 where none.

    Distances are smaller-is-closer (euclidean, or minus the inner product). On an
    approximate index, a filter matching at most `exact_below` rows is answered by exact
    search over those rows (cheaper and exact), and a query the index pads with -1 although
    more rows match is searched again the same way.
    """
    faiss = import_faiss()
    if allowed is None:
        raw, rows = index.search(queries, k)
    elif not is_exact(index) and int(allowed.sum()) <= exact_below:
        raw, rows = _exact_subset(index, queries, k, allowed)
    else:
        bitmap = np.packbits(allowed, bitorder="little")  # kept alive for the search
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        try:
            raw, rows = index.search(queries, k, params=faiss.SearchParameters(sel=selector))
        except RuntimeError as error:
            raise UnsupportedFilterError(
                f"{type(index).__name__} does not support filtered search ({error}); "
                "use a flat, IVF, HNSW or scalar-quantizer index"
            ) from None
        found = rows[rows >= 0]
        if not allowed[found].all():
            raise UnsupportedFilterError(
                f"{type(index).__name__} ignored the ID selector (returned rows the filter "
                "rejects); use a CPU flat, IVF or HNSW index"
            )
        expected = min(k, int(allowed.sum()))
        short = np.flatnonzero((rows >= 0).sum(axis=1) < expected)
        if len(short):
            raw, rows = raw.copy(), rows.copy()
            raw[short], rows[short] = _exact_subset(index, queries[short], k, allowed)
    distances = l2_to_distance(raw) if metric_name(index) == "l2" else -raw
    return distances, rows


def _exact_subset(
    index: Any, queries: np.ndarray, k: int, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    faiss = import_faiss()
    subset = np.flatnonzero(allowed)
    vectors = index.reconstruct_batch(subset)
    raw, positions = faiss.knn(queries, vectors, min(k, len(subset)), metric=index.metric_type)
    padded_raw = np.full((len(queries), k), np.inf, dtype=raw.dtype)
    padded_rows = np.full((len(queries), k), -1, dtype=np.int64)
    padded_raw[:, : raw.shape[1]] = raw
    padded_rows[:, : raw.shape[1]] = subset[positions]
    return padded_raw, padded_rows


class FaissDataSource(RowDataSource):
    """Search a FAISS index whose labels are row numbers 0..n-1.

    `ids`, `items` and `metadata` are per-row sequences (metadata: dicts, used by the
    filter and returned as `Item.data`). Embeddings are read back with
    `reconstruct_batch`, or from `embeddings` when given. On an approximate index, a filter
    matching at most `exact_below` rows is searched exactly over those rows.
    """

    fetch_skips_metadata = True

    def __init__(
        self,
        index: Any,
        k: int = 10,
        ids: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        embeddings: np.ndarray | None = None,
        filter: Any = None,
        distance_cutoff: float | None = None,
        exact_below: int = EXACT_BELOW,
    ) -> None:
        """A source over a FAISS index.

        Args:
            index: a FAISS index labelled 0..n-1.
            k: results per query.
            ids: one per row (default: the row numbers).
            items: one per row, the items themselves.
            metadata: one dict per row, what the filter reads.
            embeddings: the indexed vectors (None: read back from the index).
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            distance_cutoff: results farther than this are dropped (None: none are).
            exact_below: an approximate index searches a filter matching at most this many rows
                exactly.
        """
        super().__init__(k, filter, distance_cutoff)
        self.exact_below = exact_below
        if index.ntotal == 0:
            raise ValueError("the FAISS index is empty")
        self.index = index
        self.metric = metric_name(index)
        self.rows = RowTable(index.ntotal, ids, items, metadata)
        if embeddings is not None:
            embeddings = np.asarray(embeddings)
            if embeddings.shape != (index.ntotal, index.d):
                raise ValueError(
                    f"embeddings has shape {embeddings.shape}, expected {(index.ntotal, index.d)}"
                )
        self.embeddings = embeddings

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def _nearest(
        self, queries: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        return search_index(self.index, queries, self.k, allowed, self.exact_below)

    def _fetch(self, rows: Rows, distances: np.ndarray, metadata: bool = True) -> QueryHits:
        if self.embeddings is not None:
            vectors = self.embeddings[rows]
        elif isinstance(rows, slice):
            vectors = self.index.reconstruct_n(rows.start, rows.stop - rows.start)
        else:
            vectors = (
                self.index.reconstruct_batch(rows) if len(rows) else np.empty((0, self.dimension))
            )
        return self.rows.hits(rows, distances, vectors, metadata)


def connect(source: SourceSpec) -> FaissDataSource:
    """A FAISS index over `source.data` (`options.index`: an index_factory string, "Flat")."""
    faiss = import_faiss()
    given = ("k", "items", "metadata", "embeddings", "filter")
    options = adapter_options(FaissDataSource, source.options, given, extra=["index"])
    description = options.pop("index", "Flat")
    corpus = source.corpus()
    return FaissDataSource(
        build_index(faiss, corpus.embeddings, description),
        k=source.k,
        items=corpus.items,
        metadata=corpus.metadata,
        embeddings=corpus.embeddings,
        filter=source.filter,
        **options,
    )


def build_index(faiss: Any, embeddings: np.ndarray, description: Any) -> Any:
    """`index_factory(description)` trained on and filled with `embeddings`; what FAISS
    refuses is a ConfigError naming `source.options.index`."""
    from ..errors import ConfigError

    if not isinstance(description, str):
        raise ConfigError(
            "source.options.index: expected an index_factory string such as 'Flat', "
            f"'HNSW32' or 'IVF256,Flat', got {description!r}"
        )
    try:
        index = faiss.index_factory(embeddings.shape[1], description)
        index.train(embeddings)
        index.add(embeddings)
    except RuntimeError as error:
        rows, dimension = embeddings.shape
        raise ConfigError(
            f"source.options.index: FAISS cannot build {description!r} over {rows} vectors of "
            f"{dimension} dimensions: {_faiss_reason(error)}"
        ) from error
    return index


def _faiss_reason(error: RuntimeError) -> str:
    """The message of a FAISS C++ exception without the function, file and assertion."""
    text = " ".join(str(error).split())
    found = re.search(r" at \S+:\d+: (?:Error: '.*?' failed: )?(.*)", text)
    return found.group(1) if found else text


BACKEND = Backend(
    name="faiss", extra="faiss", packages=("faiss-cpu",), adapter=FaissDataSource, connect=connect
)
