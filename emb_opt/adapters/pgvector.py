"""PgvectorDataSource: kNN in a PostgreSQL table with pgvector, one statement per iteration.

All queries of an iteration go in one statement: a LATERAL join over
`unnest(%(queries)s::vector[]) WITH ORDINALITY`, each query's `k` nearest rows by pgvector's
distance operator (`<->`, `<=>`, `<#>`: euclidean, 1 - cosine, minus the inner product,
which are the library's distances), re-ordered by that distance. The planner may serve it
from an HNSW or IVFFlat index; the adapter sets `hnsw.iterative_scan = relaxed_order` (and
IVFFlat's) on the session, so a selective filter still fills `k` (pgvector >= 0.8). The
filter compiles to a parameterised WHERE (`emb_opt.filters.to_sql`). Scans page by id;
fetches add `id = ANY(ids)` to the filter's WHERE.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import missing_dependency
from ..filters import Filter
from ..filters.ir import BOOL, NUMBER, STR, kind_of
from . import fields as stored
from .backend import Backend
from .base import QueryHits, VectorDataSource, check_metric, plain_id
from .names import PG_IDENTIFIER_BYTES, POSTGRES
from .remote import LoaderCalls, RemoteDataSource, load_rows
from .retry import RetryPolicy
from .servers import close_also, connect_server
from .spec import SourceSpec

if TYPE_CHECKING:
    from psycopg import sql

OPERATORS = {"l2": "<->", "cosine": "<=>", "ip": "<#>"}
OPCLASSES = {"vector_l2_ops": "l2", "vector_cosine_ops": "cosine", "vector_ip_ops": "ip"}
SESSION = {"hnsw.iterative_scan": "relaxed_order", "ivfflat.iterative_scan": "relaxed_order"}
ID_KINDS = {"int2": int, "int4": int, "int8": int, "text": str, "varchar": str}
COLUMN_KINDS: dict[
    str, tuple[str, int | None]
] = {  # pg_type.typname -> (kind, width) of what `stored_fields` reports
    **dict.fromkeys(("int2", "int4", "int8", "float4", "float8", "numeric"), (stored.NUMBER, 1)),
    **dict.fromkeys(("text", "varchar", "bpchar"), (stored.TEXT, 0)),
}
ARRAYS = ("_int2", "_int4", "_int8", "_float4", "_float8", "_numeric")  # as vectors
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CATALOG = """
SELECT a.attname, t.typname, a.atttypmod,
    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary
            AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum),
    ARRAY(SELECT o.opcname::text FROM pg_index i JOIN pg_opclass o ON o.oid = i.indclass[0]
          WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def import_psycopg() -> Any:
    try:
        import pgvector.psycopg  # noqa: F401
        import psycopg
    except ImportError:
        raise missing_dependency("psycopg and pgvector", "pgvector") from None
    return psycopg


def table_name(name: str) -> sql.Identifier:
    """`table` or `schema.table` as a quoted identifier (each part a plain name)."""
    from psycopg import sql

    parts = name.split(".") if isinstance(name, str) else [name]
    if not 1 <= len(parts) <= 2 or not all(_NAME.fullmatch(part) for part in parts):
        raise ValueError(
            f"table name must be 'table' or 'schema.table' with parts matching "
            f"[A-Za-z_][A-Za-z0-9_]*, got {name!r}"
        )
    POSTGRES.check_collection(name)  # no part longer than an identifier
    return sql.Identifier(*parts)


def is_column_name(key: str) -> bool:
    """Whether PostgreSQL keeps `key` as a column name exactly (else it goes to JSONB)."""
    return bool(_NAME.fullmatch(key)) and len(key.encode()) <= PG_IDENTIFIER_BYTES


def pg_address(client: Any) -> str:
    """`postgresql://host:port/dbname` of a connection or a DSN (never its password)."""
    if isinstance(client, str):
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(client)
        except ProgrammingError:
            return "an invalid DSN"
        host, port, dbname = (params.get(k, "") for k in ("host", "port", "dbname"))
    else:
        host, port, dbname = client.info.host, client.info.port, client.info.dbname
    return f"postgresql://{host or 'localhost'}:{port or 5432}/{dbname}"


@dataclass(frozen=True)
class _Column:
    name: str
    type: str  # pg_type.typname: "int8", "vector", "jsonb", ...
    typmod: int  # vector(n): n
    primary: bool
    opclasses: tuple[str, ...]  # of the indexes that lead with this column


def _vector_loader() -> type:
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class VectorLoader(Loader):
        """pgvector's binary form (uint16 dims, uint16 unused, big-endian float32s) as numpy."""

        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)

    return VectorLoader


def vector_cursor(connection: Any) -> Any:
    """A binary cursor that sends numpy arrays as `vector` and reads vectors as numpy."""
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(connection, "vector")
    if info is None:
        raise ValueError(
            f"PostgreSQL at {pg_address(connection)} has no vector type; "
            "run CREATE EXTENSION vector in that database"
        )
    cursor = connection.cursor(binary=True)
    register_vector_info(cursor, info)
    cursor.adapters.register_loader(info.oid, _vector_loader())
    return cursor


class PgvectorDataSource(RemoteDataSource):
    """Search table `collection_name` with the `k` nearest rows per query, filtered in SQL.

    `client` is a psycopg 3 connection in autocommit mode (`close()` leaves it open) or a
    DSN / URL (the adapter opens that connection and closes it). `vector_column` and
    `id_column` default to the table's only `vector` column and its primary key,
    `json_column` to its only jsonb column, whose keys are metadata; every other column is
    metadata too (a column shadows a key of the same name). `item_key` names the column or
    key holding the item. `metric` defaults to that of an index on the vector column, else
    "l2"; `ef_search` sets `hnsw.ef_search`. Distances: euclidean, 1 - cosine or minus the
    inner product.
    """

    backend = "PostgreSQL"

    def __init__(
        self,
        client: Any,
        collection_name: str,
        k: int = 10,
        filter: Any = None,
        item_key: str | None = None,
        distance_cutoff: float | None = None,
        *,
        vector_column: str | None = None,
        id_column: str | None = None,
        json_column: str | None = None,
        metric: str | None = None,
        ef_search: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """A source over a PostgreSQL table with pgvector.

        Args:
            client: a psycopg 3 autocommit connection (left open) or a DSN / URL (opened and
                closed here).
            collection_name: the table to search.
            k: results per query.
            filter: a metadata filter (plain data or `emb_opt.filters` IR), applied inside the
                kNN.
            item_key: the column or jsonb key holding the item (None: no item).
            distance_cutoff: results farther than this are dropped (None: none are).
            vector_column: the vector column (default: the table's only one).
            id_column: the id column (default: the primary key).
            json_column: the jsonb column of metadata (default: the table's only one).
            metric: "l2", "cosine" or "ip" (default: that of an index, else "l2").
            ef_search: sets `hnsw.ef_search`.
            retry: how database calls are retried (None: `RetryPolicy()`).
        """
        psycopg = import_psycopg()
        super().__init__(client, collection_name, k, filter, item_key, distance_cutoff, retry)
        self.table = table_name(collection_name)
        self._owns_client = isinstance(client, str)
        if self._owns_client:
            self.client = psycopg.connect(client, autocommit=True)
        elif not client.autocommit:
            raise ValueError(
                "pass a connection with autocommit=True: the adapter only reads, and its "
                "session settings must not live in a transaction it leaves open"
            )
        self._cursor: Any = None
        try:
            self._cursor = vector_cursor(self.client)
            self._describe(vector_column, id_column, json_column, metric)
            settings = {**SESSION, **({"hnsw.ef_search": str(ef_search)} if ef_search else {})}
            for name, value in settings.items():
                self._execute(psycopg.sql.SQL("SELECT set_config(%s, %s, false)"), (name, value))
        except BaseException:
            self.close()
            raise

    @property
    def address(self) -> str:
        return pg_address(self.client)

    @property
    def dimension(self) -> int:
        return self._dimension

    def _describe(
        self,
        vector_column: str | None,
        id_column: str | None,
        json_column: str | None,
        metric: str | None,
    ) -> None:
        """Read the table's columns: vector, id, JSONB and typed metadata; the metric."""
        table = self.table.as_string(self.client)
        found = [
            _Column(name, type_name, typmod, primary, tuple(opclasses))
            for name, type_name, typmod, primary, opclasses in self._execute(_CATALOG, (table,))
        ]
        if not found:
            raise ValueError(
                f"PostgreSQL at {self.address} has no table {self.collection_name!r}; "
                f"tables: {list_tables(self.client)}"
            )
        vector = _pick(found, vector_column, "vector", "vector_column")
        self.vector_column = vector.name
        key = _pick(found, id_column, None, "id_column", lambda c: c.primary)
        self.id_column = key.name
        self._id_kind = ID_KINDS.get(key.type)  # what a fetched id must be (None: any)
        jsonb = [c for c in found if c.type == "jsonb"]
        self.json_column = (
            _pick(found, json_column, "jsonb", "json_column").name
            if json_column or len(jsonb) == 1
            else None
        )
        used = (self.vector_column, self.id_column, self.json_column)
        self.columns = {c.name: c.type for c in found if c.name not in used}
        self._widths = {c.name: c.typmod for c in found if c.name in self.columns and c.typmod > 0}
        self.metric = check_metric(metric) if metric else _index_metric(vector)
        self._dimension = vector.typmod if vector.typmod > 0 else self._stored_dimension()

    def _declared_fields(self) -> stored.Declared:
        """The kinds of the metadata columns' types (the JSONB keys' come from the sample)."""
        declared: dict[str, tuple[str, int | None]] = {}
        for name, type_name in self.columns.items():
            if name == self.item_key:
                continue
            if type_name == "vector":
                declared[name] = (stored.VECTOR, self._widths.get(name) or None)
            elif type_name in ARRAYS:
                declared[name] = (stored.VECTOR, None)
            else:
                declared[name] = COLUMN_KINDS.get(type_name, (stored.OTHER, 0))
        return declared

    def _check_filter_keys(self, flt: Filter) -> None:
        """Refuse a filter key PostgreSQL would read as another (truncated) column name."""
        from ..filters._native import compared_fields

        for key in sorted(compared_fields(flt)):
            truncated = key.encode()[:PG_IDENTIFIER_BYTES].decode(errors="ignore")
            if len(key.encode()) > PG_IDENTIFIER_BYTES and truncated in self.columns:
                raise ValueError(
                    f"filter key {key!r} is {len(key.encode())} bytes, beyond the limit of "
                    f"{PG_IDENTIFIER_BYTES} bytes of a PostgreSQL column name: table "
                    f"{self.collection_name!r} holds it truncated, as column {truncated!r}"
                )

    def _stored_dimension(self) -> int:
        from psycopg import sql

        query = sql.SQL("SELECT vector_dims({}) FROM {} LIMIT 1")
        rows = self._execute(query.format(sql.Identifier(self.vector_column), self.table))
        if not rows:
            raise ValueError(
                f"column {self.vector_column!r} has no declared dimension and the table is "
                "empty; declare it as vector(n)"
            )
        return int(rows[0][0])

    def _compile(self, flt: Filter) -> Any:
        """(WHERE clause, parameters) over this table's columns."""
        from ..filters.to_sql import SqlSchema, to_sql

        self._check_filter_keys(flt)
        return to_sql(flt, SqlSchema(self.columns, self.json_column))

    def _filter_compiled(self) -> None:
        """The statements, built once per filter: kNN, scan pages, ids, count and fetch."""
        from psycopg import sql

        where, self._params = (sql.SQL("FALSE"), {}) if self._empty else self.native_filter
        self._where = where
        self._names = list(self.columns)  # payload: these columns, then the JSONB column
        stored = [self.id_column, self.vector_column, *self._names]
        stored += [self.json_column] if self.json_column else []
        parts = {
            "columns": sql.SQL(", ").join(map(sql.Identifier, stored)),
            "table": self.table,
            "where": where,
            "id": sql.Identifier(self.id_column),
        }
        self._id = parts["id"]
        vector, operator = sql.Identifier(self.vector_column), sql.SQL(OPERATORS[self.metric])
        self._knn = sql.SQL(
            "SELECT q.ord, r.* FROM unnest(%(queries)s::vector[]) WITH ORDINALITY AS q(vec, ord) "
            "CROSS JOIN LATERAL (SELECT {vector} {op} q.vec, {columns} FROM {table} "
            "WHERE {where} ORDER BY {vector} {op} q.vec LIMIT %(k)s) AS r ORDER BY 1, 2"
        ).format(vector=vector, op=operator, **parts)
        self._select = sql.SQL("SELECT {columns} FROM {table} WHERE ({where})").format(**parts)
        self._starts = sql.SQL(  # the first id of each of %(parts)s near-equal parts
            "SELECT min({id}) FROM (SELECT {id}, ntile(%(parts)s) OVER (ORDER BY {id}) AS part "
            "FROM {table} WHERE {where}) AS numbered GROUP BY part ORDER BY 1"
        ).format(**parts)
        self._ids = sql.SQL("SELECT {id} FROM {table} WHERE {where}").format(**parts)
        self._count_sql = sql.SQL("SELECT count(*) FROM {table} WHERE {where}").format(**parts)
        self._find_sql = self._select + sql.SQL(" AND {id} = ANY(%(ids)b)").format(**parts)

    def _execute(self, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
        """One statement, one round trip: its rows."""
        return self._call("query", lambda: self._cursor.execute(query, params).fetchall())

    def _search(self, queries: np.ndarray) -> list[QueryHits]:
        params = {**self._params, "queries": list(queries), "k": self.k}
        groups: list[list[tuple[Any, ...]]] = [[] for _ in range(len(queries))]
        for row in self._execute(self._knn, params):
            groups[row[0] - 1].append(row)
        return [
            self._rows_to_hits([row[2:] for row in rows], [row[1] for row in rows])
            for rows in groups
        ]

    def _rows_to_hits(
        self,
        rows: Sequence[tuple[Any, ...]],
        distances: Sequence[float] | None = None,
        names: list[str] | None = None,
    ) -> QueryHits:
        """Hits from (id, vector, *metadata columns[, jsonb]) rows, or from (id, vector,
        *values of `names`) rows of a projection."""
        n = len(self._names)
        payloads = []
        for row in rows:
            if names is not None:
                payloads.append(dict(zip(names, row[2:])))
                continue
            document = row[2 + n] if self.json_column else None
            payload = dict(document) if isinstance(document, dict) else {}
            payload.update(zip(self._names, row[2 : 2 + n]))
            payloads.append(payload)
        return self._hits(
            [row[0] for row in rows],
            np.zeros(len(rows)) if distances is None else np.asarray(distances, np.float64),
            [row[1] for row in rows],
            payloads,
        )

    def _matching_ids(self) -> list[Any]:
        return [row[0] for row in self._execute(self._ids, self._params)]

    def _partition_bounds(self, count: int) -> list[Any]:
        """Id ranges `[start, end)` holding near-equal numbers of matching rows (None: open)."""
        starts = [row[0] for row in self._execute(self._starts, {**self._params, "parts": count})]
        return list(pairwise([None, *starts[1:], None]))

    def _page(self, select: Any, *conditions: str) -> Any:
        """The statement of one scan page: `select` (with the filter) and `conditions` on
        the id (such as "> %(after)s"), in id order."""
        from psycopg import sql

        query = select
        for condition in conditions:
            query += sql.SQL(" AND {id} " + condition).format(id=self._id)
        return query + sql.SQL(" ORDER BY {id} LIMIT %(limit)s").format(id=self._id)

    def _scan(
        self, batch_size: int, bounds: Any = None, fields: tuple[str, ...] | None = None
    ) -> Iterator[QueryHits]:
        """Pages by id (keyset), from id `start` to before id `end` (None: open); with
        `fields`, of those columns and JSONB keys (and the item's) only."""
        select, names = (self._select, None) if fields is None else self._projection(fields)
        start, end = bounds or (None, None)
        params = {**self._params, "limit": batch_size, "start": start, "end": end}
        before = () if end is None else ("< %(end)s",)
        first = (">= %(start)s",) if start is not None else ()
        query = self._page(select, *first, *before)
        while rows := self._execute(query, params):
            yield self._rows_to_hits(rows, names=names)
            if len(rows) < batch_size:
                return
            query, params["after"] = self._page(select, "> %(after)s", *before), rows[-1][0]

    def _projection(self, fields: tuple[str, ...]) -> tuple[Any, list[str]]:
        """(SELECT id, vector, then per key its column or its JSONB value, with the filter;
        the keys) for `fields` and the item. A key the table cannot hold is not read."""
        from psycopg import sql

        keys = [*fields, *([self.item_key] if self.item_key else [])]
        keys = [k for k in dict.fromkeys(keys) if k in self.columns or self.json_column]
        values = [
            sql.Identifier(k)
            if k in self.columns
            else sql.SQL("{} -> {}").format(sql.Identifier(str(self.json_column)), sql.Literal(k))
            for k in keys
        ]
        parts = [sql.Identifier(self.id_column), sql.Identifier(self.vector_column), *values]
        select = sql.SQL("SELECT {} FROM {} WHERE ({})").format(
            sql.SQL(", ").join(parts), self.table, self._where
        )
        return select, keys

    def _count(self) -> int:
        return int(self._execute(self._count_sql, self._params)[0][0])

    def _id_key(self, item_id: Any) -> Any:
        """An int (int8 at most) for an integer id column, a str PostgreSQL text can hold
        (no NUL) for a text one."""
        key = plain_id(item_id, self._id_kind)
        return None if isinstance(key, str) and "\x00" in key else key

    def _find(self, ids: list[Any]) -> QueryHits:
        return self._rows_to_hits(self._execute(self._find_sql, {**self._params, "ids": ids}))

    def close(self) -> None:
        """Closes the adapter's cursor, and the connection if the adapter opened it."""
        if self._cursor is not None:
            self._cursor.close()
        if self._owns_client:
            self.client.close()


def _pick(
    columns: Sequence[_Column],
    name: str | None,
    type_name: str | None,
    argument: str,
    default: Any = None,
) -> _Column:
    """The column called `name` (of `type_name`), or else the only one that fits."""
    fits = [c for c in columns if type_name is None or c.type == type_name]
    if name is None:
        candidates = [c for c in fits if default(c)] if default else fits
        if len(candidates) == 1:
            return candidates[0]
    else:
        for column in fits:
            if column.name == name:
                return column
    kind = f"{type_name} columns" if type_name else "columns"
    raise ValueError(f"{argument} must be one of the table's {kind} {[c.name for c in fits]}")


def _index_metric(vector: _Column) -> str:
    for opclass in vector.opclasses:
        if opclass in OPCLASSES:
            return OPCLASSES[opclass]
    return "l2"


def list_tables(client: Any) -> list[str]:
    """The tables reachable without a schema name (on the search path)."""
    rows = client.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') "
        "AND pg_table_is_visible(c.oid) ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def drop_table(client: Any, name: str) -> None:
    from psycopg import sql

    client.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table_name(name)))


# ---- loader ----------------------------------------------------------------------------


def column_type(values: Sequence[Any]) -> str | None:
    """The type of a column that holds these values exactly (nulls aside), or None when
    they need JSONB (mixed kinds, lists, ints beyond int8, strings with NUL)."""
    from ..filters.to_sql import INT8, is_double

    present = [v for v in values if v is not None]
    kinds = {kind_of(v) for v in present}
    if kinds == {BOOL}:
        return "bool"
    if kinds == {STR}:
        return "text" if all("\x00" not in v for v in present) else None
    if kinds != {NUMBER}:
        return None
    if all(isinstance(v, int | np.integer) and INT8[0] <= v <= INT8[1] for v in present):
        return "int8"
    return "float8" if all(is_double(v) for v in present) else None


_PYTHON = {"bool": bool, "text": str, "int8": int, "float8": float}


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
    metadata_storage: str = "columns",
    vector_column: str = "embedding",
    id_column: str = "id",
    json_column: str = "metadata",
    index: str | None = None,
    index_params: Mapping[str, int] | None = None,
    recreate: bool = False,
    retry: RetryPolicy | None = None,
) -> None:
    """Create table `collection_name` and fill it with one binary COPY, in one transaction.

    Columns: `id_column` (int8 or text primary key; ids default to row numbers),
    `vector_column` (vector(n)), then the metadata and the item. With `metadata_storage=
    "columns"` a key whose values all have one kind becomes a typed column (int8, float8,
    bool, text) and the others go to the jsonb `json_column`; with "jsonb" every key does.
    `index` ("hnsw" or "ivfflat", with `index_params` such as `{"m": 16}`) is built for
    `metric` after the copy; the table is analysed. A key that is no plain name of at most
    63 bytes (PostgreSQL truncates longer identifiers) goes to the JSONB column as written;
    text holding NUL, which PostgreSQL cannot store, is refused before anything is written.
    """
    import_psycopg()
    from psycopg import sql
    from psycopg.types.json import Jsonb

    if metadata_storage not in ("columns", "jsonb"):
        raise ValueError(f"metadata_storage must be 'columns' or 'jsonb', got {metadata_storage!r}")
    if index not in (None, "hnsw", "ivfflat"):
        raise ValueError(f"index must be None, 'hnsw' or 'ivfflat', got {index!r}")
    reserved = (id_column, vector_column, json_column)
    for argument, column in zip(("id_column", "vector_column", "json_column"), reserved):
        if not is_column_name(column):
            raise ValueError(
                f"{argument} must match [A-Za-z_][A-Za-z0-9_]* in at most "
                f"{PG_IDENTIFIER_BYTES} bytes (a PostgreSQL column name), got {column!r}"
            )
    rows = load_rows(embeddings, metadata, ids, items, item_key, reserved=reserved, names=POSTGRES)
    keys = list(dict.fromkeys(key for payload in rows.payloads for key in payload))
    typed: dict[str, str] = {}
    if metadata_storage == "columns":
        for key in keys:
            found = (
                column_type([p.get(key) for p in rows.payloads]) if is_column_name(key) else None
            )
            if found:
                typed[key] = found
    in_json = [key for key in keys if key not in typed]
    id_type = "text" if all(isinstance(i, str) for i in rows.ids) else "int8"
    table = table_name(collection_name)
    dimension = sql.Literal(rows.embeddings.shape[1])
    columns = [
        (id_column, id_type, sql.SQL(f"{id_type} PRIMARY KEY")),
        (vector_column, "vector", sql.SQL("vector({}) NOT NULL").format(dimension)),
        *((key, type_name, sql.SQL(type_name)) for key, type_name in typed.items()),
        *([(json_column, "jsonb", sql.SQL("jsonb"))] if in_json else []),
    ]
    create = sql.SQL("CREATE TABLE {} ({})").format(
        table,
        sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c[0]), c[2]) for c in columns),
    )
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        table, sql.SQL(", ").join(sql.Identifier(c[0]) for c in columns)
    )
    opclass = {v: k for k, v in OPCLASSES.items()}[check_metric(metric)]

    def load() -> None:
        with client.transaction():
            cursor = vector_cursor(client)
            cursor.execute(create)
            with cursor.copy(copy) as copying:
                copying.set_types([c[1] for c in columns])
                for row_id, vector, payload in zip(rows.ids, rows.embeddings, rows.payloads):
                    values = [
                        None if payload.get(k) is None else _PYTHON[t](payload[k])
                        for k, t in typed.items()
                    ]
                    if in_json:
                        values.append(Jsonb({k: payload[k] for k in in_json if k in payload}))
                    copying.write_row([row_id, vector, *values])
            if index:
                cursor.execute(_create_index(table, vector_column, index, opclass, index_params))
        client.execute(sql.SQL("ANALYZE {}").format(table))

    call = LoaderCalls("PostgreSQL", pg_address(client), collection_name, retry)
    call.make_room(
        lambda: table_exists(client, collection_name),
        lambda: drop_table(client, collection_name),
        recreate,
    )
    call(load)


def _create_index(
    table: sql.Identifier,
    column: str,
    method: str,
    opclass: str,
    params: Mapping[str, int] | None,
) -> sql.Composed:
    from psycopg import sql

    statement = sql.SQL("CREATE INDEX ON {} USING {} ({} {})").format(
        table, sql.SQL(method), sql.Identifier(column), sql.SQL(opclass)
    )
    if not params:
        return statement
    options = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Literal(int(value)))
        for name, value in params.items()
    )
    return statement + sql.SQL(" WITH ({})").format(options)


def table_exists(client: Any, name: str) -> bool:
    query = "SELECT to_regclass(%s) IS NOT NULL"
    return bool(client.execute(query, (table_name(name).as_string(client),)).fetchone()[0])


def open_client(source: SourceSpec) -> Any:
    """An autocommit connection to `source.url` (a DSN or URL; libpq's PG* variables fill
    in what it leaves out), with `source.api_key` as the password if given."""
    psycopg = import_psycopg()
    password = {"password": source.api_key} if source.api_key else {}
    return psycopg.connect(source.url or "", autocommit=True, connect_timeout=10, **password)


def connect(source: SourceSpec) -> VectorDataSource:
    """The server at `source.url`; else, with `source.path`, the embedded PostgreSQL keeping
    its data there, joined (or started) now and left when the source closes (one server per
    data directory, shared by the processes using it; see `postgres_embedded`); else libpq's
    defaults."""
    from .postgres_embedded import EmbeddedPostgres

    if source.url or not source.path:
        return connect_server(BACKEND, source, pg_address(source.url or ""))
    server = EmbeddedPostgres(source.path).start()
    try:
        at_server = replace(source, url=server.url)
        source_ = connect_server(BACKEND, at_server, f"embedded PostgreSQL in {source.path}")
    except BaseException:
        server.stop()
        raise
    source_.set_opener(functools.partial(connect, at_server))
    return close_also(source_, server.stop)


BACKEND = Backend(
    name="pgvector",
    extra="pgvector",
    packages=("psycopg", "pgvector"),
    adapter=PgvectorDataSource,
    connect=connect,
    open_client=open_client,
    collections=list_tables,
    drop_collection=drop_table,
    load_collection=load_collection,
    names=POSTGRES,
)
