"""LanceDataSource: kNN in a LanceDB table, one multi-vector search per iteration.

Works with an embedded connection (`lancedb.connect(DIR)`). All queries go in one
`table.search([q1, q2, ...])` call, whose rows carry their `query_index`. The filter
compiles to a SQL `where` (`emb_opt.filters.to_lance`) applied before the kNN
(`prefilter=True`), answered by the table's scalar indexes when it has them. Without a
vector index the search is exact; with one (IVF), Lance searches more partitions than
`nprobes` while the filter leaves fewer than k rows, so a selective filter still fills k.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ..errors import ConfigError, missing_dependency
from ..filters import FALSE, Filter
from ..filters.to_lance import lance_columns, lance_filter, render_lance, sql_literal
from .backend import Backend
from .base import MATCHES_NOTHING, QueryHits, VectorDataSource, check_metric, id_bounds, slice_hits
from .fields import Declared, arrow_kind
from .names import LANCEDB
from .remote import (
    LoaderCalls,
    RemoteDataSource,
    ScoreConvention,
    load_rows,
    loader_metric,
)
from .retry import RetryPolicy
from .servers import connect_server
from .spec import SourceSpec

METRICS = {"l2": "l2", "cosine": "cosine", "dot": "ip"}  # LanceDB distance -> library metric
SCORES = ScoreConvention(l2_squared=True, similarity=False)  # squared l2, 1 - cos, 1 - dot
METRIC_KEY = b"emb_opt.metric"  # schema metadata: the metric `load_collection` was given
ID, VECTOR = "id", "vector"  # the columns `load_collection` writes
ROW_ID = "_rowid"  # Lance's row id: increases in scan order; parts are ranges of it
ID_BATCH = 65_536  # row ids per batch when reading them to split a scan


def import_lancedb() -> Any:
    try:
        import lancedb
    except ImportError:
        raise missing_dependency("lancedb", "lancedb") from None
    return lancedb


def table_names(client: Any) -> list[str]:
    """Every table of a connection (LanceDB lists them a page at a time)."""
    names: list[str] = []
    page = client.list_tables()
    names += page.tables
    while page.page_token:
        page = client.list_tables(page_token=page.page_token)
        names += page.tables
    return names


class LanceDataSource(RemoteDataSource):
    """Search table `collection_name` of a LanceDB connection, filtered inside the kNN.

    `id_column` holds the ids and `vector_column` the vectors (default: the only
    fixed-size float list column); `item_key` names the column holding the item itself;
    the other columns become `Item.data` (a null column value stays None). `metric` is
    "l2", "cosine" or "ip" (default: what `load_collection` recorded, else "l2").
    `nprobes`, `refine_factor` and `ef` tune a vector index's search. Distances:
    euclidean, 1 - cosine or minus the dot product. `close()` leaves the connection open.
    """

    backend = "LanceDB"

    def __init__(
        self,
        client: Any,
        collection_name: str,
        k: int = 10,
        filter: Any = None,
        item_key: str | None = None,
        distance_cutoff: float | None = None,
        *,
        id_column: str = ID,
        vector_column: str | None = None,
        metric: str | None = None,
        nprobes: int | None = None,
        refine_factor: int | None = None,
        ef: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """A source over a LanceDB table.

        Args:
            client: the caller's LanceDB connection (left open by `close()`).
            collection_name: the table to search.
            k: results per query.
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            item_key: the column holding the item (None: no item).
            distance_cutoff: results farther than this are dropped (None: none are).
            id_column: the column of ids.
            vector_column: the vector column (default: the only fixed-size float list one).
            metric: "l2", "cosine" or "ip" (default: what `load_collection` recorded).
            nprobes: partitions a vector index searches.
            refine_factor: re-ranking of a vector index's candidates.
            ef: the search width of an HNSW index.
            retry: how database calls are retried (None: `RetryPolicy()`).
        """
        super().__init__(client, collection_name, k, filter, item_key, distance_cutoff, retry)
        self.table = self._open_table()
        schema = self.table.schema
        self.vector_column, self._dimension = _vector_column(schema, vector_column)
        if id_column not in schema.names:
            raise ValueError(
                f"LanceDB table {collection_name!r} has no id column {id_column!r}; "
                f"columns: {schema.names} (pass id_column=)"
            )
        self.id_column = id_column
        self._id_kind = arrow_id_kind(schema.field(id_column).type)  # what a fetched id must be
        recorded = (schema.metadata or {}).get(METRIC_KEY, b"l2").decode()
        self.metric = check_metric(metric or recorded)
        self.tuning = {"nprobes": nprobes, "refine_factor": refine_factor, "ef": ef}
        self.columns = lance_columns(schema, skip=(id_column, self.vector_column))
        for name in self.columns:
            if problem := LANCEDB.keys.problem(name):
                raise ValueError(
                    f"LanceDB table {collection_name!r}: column {name!r} cannot be read back "
                    f"by a search ({problem}); rename it"
                )
        self._select = [id_column, self.vector_column, *self.columns]

    def _compile(self, flt: Filter) -> Any:
        folded = lance_filter(flt, self.columns)
        return MATCHES_NOTHING if folded == FALSE else render_lance(folded, self.columns)

    @property
    def address(self) -> str:
        return str(getattr(self.client, "uri", "a LanceDB connection"))

    @property
    def dimension(self) -> int:
        return self._dimension

    def _open_table(self) -> Any:
        if self.collection_name not in table_names(self.client):
            raise ValueError(
                f"LanceDB at {self.address} has no table {self.collection_name!r}; "
                f"tables: {table_names(self.client)}"
            )
        return self.client.open_table(self.collection_name)

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        query = (
            self.table.search(list(queries), vector_column_name=self.vector_column)
            .distance_type(loader_metric(self.metric, METRICS, "LanceDB"))
            .select([*self._select, "_distance"])
            .limit(self.k)
        )
        for name, value in self.tuning.items():
            if value is not None:
                query = getattr(query, name)(value)
        if self.native_filter is not None:  # more partitions while the filter leaves too few rows
            query = query.where(self.native_filter, prefilter=True).maximum_nprobes(0)
        rows = self._call("search", query.to_arrow)
        which = (  # a search for one vector has no query_index
            rows["query_index"].to_numpy() if len(queries) > 1 else np.zeros(rows.num_rows, int)
        )
        order = np.lexsort((rows["_distance"].to_numpy(), which))
        rows, which = rows.take(order), which[order]
        distances = SCORES.to_distance(self.metric, rows["_distance"].to_numpy())
        hits = self._rows_to_hits(rows, distances)
        counts = np.bincount(which, minlength=len(queries))
        bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        return [slice_hits(hits, start, end) for start, end in pairwise(bounds)]

    def _declared_fields(self) -> Declared:
        """The kinds of the metadata columns' Arrow types."""
        schema = self.table.schema
        return {
            name: arrow_kind(schema.field(name).type)
            for name in self.columns
            if name != self.item_key
        }

    def _rows_to_hits(self, rows: Any, distances: np.ndarray | None = None) -> QueryHits:
        vectors = rows[self.vector_column].combine_chunks().flatten().to_numpy()
        payloads = rows.select([c for c in self.columns if c in rows.column_names]).to_pylist()
        return self._hits(
            rows[self.id_column].to_pylist(),
            distances if distances is not None else np.zeros(rows.num_rows),
            vectors.reshape(-1, self._dimension),
            payloads,
        )

    def _rows(self, where: str | None, columns: list[str]) -> Any:
        """A plain (not kNN) query of the rows `where` selects."""
        query = self.table.search().select(columns).limit(None)
        return query.where(where) if where is not None else query

    def _matching_ids(self) -> list[Any]:
        rows = self._call("query", self._rows(self.native_filter, [self.id_column]).to_arrow)
        return list(rows[self.id_column].to_pylist())

    def _row_ids(self) -> Iterator[int]:
        """The row ids of the matching rows, in scan order."""
        query = self._rows(self.native_filter, [self.id_column]).with_row_id(True)
        for batch in self._call("query", query.to_batches, ID_BATCH):
            yield from batch.column(ROW_ID).to_pylist()

    def _partition_bounds(self, count: int) -> list[Any]:
        """Row id ranges holding near-equal numbers of matching rows."""
        return id_bounds(self._row_ids(), self._count(), count)

    def _in_part(self, bounds: tuple[Any, Any] | None) -> str | None:
        """The filter, and the row id range of the part `bounds` (None: every row)."""
        lower, upper = bounds or (None, None)
        conditions = [] if self.native_filter is None else [f"({self.native_filter})"]
        conditions += [] if lower is None else [f"{ROW_ID} >= {int(lower)}"]
        conditions += [] if upper is None else [f"{ROW_ID} < {int(upper)}"]
        return " AND ".join(conditions) or None

    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        """Batches of a plain query; with `fields`, of those columns (and the item's) only."""
        import pyarrow as pa

        select = self._select
        if fields is not None:
            wanted = {*fields, self.item_key}
            select = [self.id_column, self.vector_column, *(c for c in self.columns if c in wanted)]
        query = self._rows(self._in_part(bounds), select)
        for batch in self._call("query", query.to_batches, batch_size):
            if batch.num_rows:
                yield self._rows_to_hits(pa.Table.from_batches([batch]))

    def _count(self) -> int:
        return int(self._call("count_rows", self.table.count_rows, self.native_filter))

    def _find(self, ids: list[Any]) -> QueryHits:
        where = f"`{self.id_column}` IN ({', '.join(map(sql_literal, ids))})"
        if self.native_filter is not None:
            where = f"({self.native_filter}) AND {where}"
        return self._rows_to_hits(self._call("query", self._rows(where, self._select).to_arrow))


def arrow_id_kind(arrow_type: Any) -> type | None:
    """The Python type of the ids of an id column of this Arrow type (None: any)."""
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return int
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return str
    return None


def _vector_column(schema: Any, name: str | None) -> tuple[str, int]:
    """(name, dimension) of the vector column: `name`, or the only fixed-size float list."""
    import pyarrow as pa

    vectors = {
        field.name: field.type.list_size
        for field in schema
        if pa.types.is_fixed_size_list(field.type) and pa.types.is_floating(field.type.value_type)
    }
    if name is None and len(vectors) == 1:
        name = next(iter(vectors))
    if name is None or name not in vectors:
        raise ValueError(
            f"vector_column must be one of the table's vector columns {sorted(vectors)}, "
            f"got {name!r}"
        )
    return name, int(vectors[name])


def load_collection(
    client: Any,
    collection_name: str,
    embeddings: Any,
    metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ids: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
    *,
    item_key: str = "item",
    metric: str = "l2",
    scalar_indexes: bool = True,
    recreate: bool = False,
    retry: RetryPolicy | None = None,
) -> None:
    """Create table `collection_name`: columns `id`, `vector` (float32), one per metadata
    key (and `item_key` when items are given), typed by Arrow from the values.

    A key that is null in every row gets no column (a missing field filters the same way);
    a key LanceDB reserves (`_distance`, `query_index`, `_rowid`...) or holding '.' or '`'
    is refused before anything is written;
    a key holding values of several kinds (bool and int, str and number) is a ValueError.
    `scalar_indexes` indexes every metadata column but lists (bitmap for bools, B-tree
    otherwise).
    The metric is recorded in the schema for `LanceDataSource`. `recreate=True` drops an
    existing table of that name first.
    """
    import_lancedb()
    import pyarrow as pa
    from lancedb.index import Bitmap, BTree

    check_metric(metric)
    rows = load_rows(
        embeddings, metadata, ids, items, item_key, reserved=(ID, VECTOR), names=LANCEDB
    )
    LANCEDB.check_collection(collection_name)
    flat = pa.array(rows.embeddings.ravel(), pa.float32())
    columns = {
        ID: pa.array(rows.ids),
        VECTOR: pa.FixedSizeListArray.from_arrays(flat, rows.embeddings.shape[1]),
    }
    for key in dict.fromkeys(key for payload in rows.payloads for key in payload):
        values = [payload.get(key) for payload in rows.payloads]
        try:
            column = pa.array(values)
        except (pa.ArrowException, TypeError, OverflowError) as error:
            raise ValueError(f"field {key!r}: a LanceDB column holds one type ({error})") from None
        if not pa.types.is_null(column.type):
            columns[key] = column
    table = pa.table(columns).replace_schema_metadata({METRIC_KEY: metric.encode()})
    call = LoaderCalls("LanceDB", str(getattr(client, "uri", "")), collection_name, retry)
    call.make_room(
        lambda: collection_name in table_names(client),
        lambda: client.drop_table(collection_name),
        recreate,
    )
    created = call(client.create_table, collection_name, data=table)
    indexed = [  # a list column (a vector kept in a field) takes no scalar index
        name
        for name in table.column_names
        if name not in (ID, VECTOR, item_key)
        and not pa.types.is_nested(table.schema.field(name).type)
    ]
    for name in indexed if scalar_indexes else ():
        config = Bitmap() if pa.types.is_boolean(table.schema.field(name).type) else BTree()
        call(created.create_index, name, config=config)


def open_client(source: SourceSpec) -> Any:
    """The LanceDB database at `source.url` (a URI) or `source.path` (a directory)."""
    return import_lancedb().connect(source.url or source.path, api_key=source.api_key or None)


def connect(source: SourceSpec) -> VectorDataSource:
    if not (source.url or source.path):
        raise ConfigError("source.path: the lancedb backend needs path, a database directory")
    return connect_server(BACKEND, source, str(source.url or source.path))


BACKEND = Backend(
    name="lancedb",
    extra="lancedb",
    packages=("lancedb",),
    adapter=LanceDataSource,
    connect=connect,
    open_client=open_client,
    collections=table_names,
    drop_collection=lambda client, name: client.drop_table(name),
    load_collection=load_collection,
    names=LANCEDB,
)
