"""HuggingFaceDataSource: a `datasets.Dataset` with a FAISS index, rows fetched once per batch."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import missing_dependency
from .backend import Backend
from .base import QueryHits
from .faiss import metric_name, search_index
from .fields import VECTOR, Declared, arrow_kind
from .rows import RowDataSource, Rows, RowTable, row_positions
from .servers import adapter_options
from .spec import SourceSpec


def _arrow_table(dataset: Any) -> Any:
    """The dataset's rows as one Arrow table, in the order the FAISS index numbers them."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise missing_dependency("datasets", "datasets") from None
    return dataset.with_format("arrow")[:]


def _embedding_matrix(column: Any) -> np.ndarray:
    import pyarrow

    column = column.combine_chunks() if isinstance(column, pyarrow.ChunkedArray) else column
    values = np.asarray(column.flatten())
    return values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)


class HuggingFaceDataSource(RowDataSource):
    """Search the FAISS index `index_name` of a dataset; other columns become `Item.data`.

    `item_key` names the column holding the item itself and `id_key` the id column
    (default: the row number). The filter is evaluated on the Arrow columns. Searches call the
    FAISS index under the dataset directly, not `Dataset.search_batch`, which prints a progress
    bar per call.
    """

    fetch_skips_metadata = True

    def __init__(
        self,
        dataset: Any,
        index_name: str = "embedding",
        k: int = 10,
        item_key: str | None = None,
        id_key: str | None = None,
        filter: Any = None,
        distance_cutoff: float | None = None,
        embedding_key: str | None = None,
    ) -> None:
        """A source over a dataset's FAISS index.

        Args:
            dataset: a `datasets.Dataset` with a FAISS index.
            index_name: the index to search.
            k: results per query.
            item_key: the column holding the item (None: no item).
            id_key: the column of ids (None: the row numbers).
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            distance_cutoff: results farther than this are dropped (None: none are).
            embedding_key: the column of vectors (None: `index_name`).
        """
        super().__init__(k, filter, distance_cutoff)
        from ..filters import Columns

        self.index = dataset.get_index(index_name).faiss_index
        self.metric = metric_name(self.index)
        self.embedding_key = embedding_key or index_name
        table = _arrow_table(dataset)
        for role, name in (
            ("item_key", item_key),
            ("id_key", id_key),
            ("index", self.embedding_key),
        ):
            if name is not None and name not in table.column_names:
                raise ValueError(
                    f"{role} {name!r} is not a column of the dataset; columns: {table.column_names}"
                )
        self.item_key, self.id_key = item_key, id_key
        self.metadata_keys = [
            c for c in table.column_names if c not in (self.embedding_key, item_key, id_key)
        ]
        self.table = table
        fields = table.select(self.metadata_keys)
        self.rows = RowTable(
            table.num_rows,
            ids=table.column(id_key).to_pylist() if id_key else None,
            columns=Columns.from_arrow(fields),
            values=functools.partial(_arrow_values, fields),
        )

    def _declared_fields(self) -> Declared:
        """The kinds of the metadata columns' Arrow types."""
        schema = self.table.schema
        return {name: arrow_kind(schema.field(name).type) for name in self.metadata_keys}

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def _nearest(
        self, queries: np.ndarray, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        return search_index(self.index, queries, self.k, allowed)

    def _fetch(self, rows: Rows, distances: np.ndarray, metadata: bool = True) -> QueryHits:
        if isinstance(rows, slice):
            fetched = self.table.slice(rows.start, rows.stop - rows.start)
        else:
            fetched = self.table.take(rows)
        return QueryHits(
            ids=(
                fetched.column(self.id_key).to_pylist()
                if self.id_key
                else list(row_positions(rows))
            ),
            distances=distances,
            embeddings=_embedding_matrix(fetched.column(self.embedding_key)),
            items=fetched.column(self.item_key).to_pylist() if self.item_key else None,
            metadata=fetched.select(self.metadata_keys).to_pylist() if metadata else None,
        )


def _arrow_values(table: Any, name: str) -> Any:
    """Column `name` of an Arrow table: a float64 array for numbers (NaN: null), an (n,
    width) one for fixed-size lists of numbers without nulls, else Python values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name).combine_chunks()
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        numbers = pc.cast(column, pa.float64(), safe=False).fill_null(np.nan)
        return numbers.to_numpy(zero_copy_only=False)
    fixed = pa.types.is_fixed_size_list(kind) and arrow_kind(kind)[0] == VECTOR
    if fixed and not column.null_count:
        flat = column.flatten()
        if not flat.null_count:
            return flat.to_numpy(zero_copy_only=False).astype(np.float64).reshape(len(column), -1)
    return column.to_pylist()


@contextmanager
def _quiet_progress_bars(datasets: Any) -> Iterator[None]:
    """No `datasets` progress bars inside the block; the user's setting is restored after."""
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()


def connect(source: SourceSpec) -> HuggingFaceDataSource:
    """A dataset of `source.data` (columns id, item, metadata keys) with a FAISS index."""
    try:
        import datasets
    except ImportError:
        raise missing_dependency("datasets", "datasets") from None
    given = ("index_name", "k", "item_key", "id_key", "filter")
    options = adapter_options(HuggingFaceDataSource, source.options, given)
    corpus = source.corpus()
    columns: dict[str, Any] = {"id": list(range(len(corpus.items))), "item": corpus.items}
    for key in sorted({k for row in corpus.metadata for k in row}):
        columns[key] = [row.get(key) for row in corpus.metadata]
    columns["embedding"] = list(corpus.embeddings)
    dataset = datasets.Dataset.from_dict(columns)
    with _quiet_progress_bars(datasets):
        dataset.add_faiss_index("embedding")
    return HuggingFaceDataSource(
        dataset,
        "embedding",
        k=source.k,
        item_key="item",
        id_key="id",
        filter=source.filter,
        **options,
    )


BACKEND = Backend(
    name="hf",
    extra="datasets",
    packages=("datasets", "faiss-cpu"),
    adapter=HuggingFaceDataSource,
    connect=connect,
)
