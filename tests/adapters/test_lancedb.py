"""LanceDataSource on embedded LanceDB (the real Lance engine, in process, in a tmp dir).

The conformance suite runs with and without scalar indexes and on an IVF vector index;
a table of awkward column types (NaN, -0.0, infinities, float32, int8, uint64, lists,
keyword names) checks the SQL compiler against the reference evaluator.
"""

from __future__ import annotations

import lancedb
import numpy as np
import pyarrow as pa
import pytest
from engines import check_numeric_filters, numeric_corpus
from lancedb.index import BTree, IvfFlat, IvfPq

from emb_opt.adapters.lancedb import LanceDataSource, load_collection
from emb_opt.adapters.spec import SourceSpec
from emb_opt.config.build import open_source
from emb_opt.schemas import Query
from emb_opt.synthetic import Corpus
from emb_opt.testing import (
    ConformanceCorpus,
    DataSourceConformance,
    NameConformance,
    conformance_corpus,
)
from emb_opt.testing.scan_suite import accepted_ids


def loaded_factory(path, corpus, load_options=None, vector_index=None, **source_options):
    db = lancedb.connect(path)
    load_collection(
        db, "conf", corpus.embeddings, corpus.metadata, corpus.ids, **(load_options or {})
    )
    if vector_index is not None:
        db.open_table("conf").create_index("vector", config=vector_index)

    def make(k, filter=None, distance_cutoff=None):
        return LanceDataSource(
            db, "conf", k=k, filter=filter, distance_cutoff=distance_cutoff, **source_options
        )

    return make


class TestLanceConformance(DataSourceConformance):
    """Scalar indexes on every metadata column (what `load_collection` makes), exact kNN."""

    property_examples = 150  # in process and fast: more random filter trees
    load_options: dict = {}
    vector_index = None
    source_options: dict = {}

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, tmp_path_factory):
        def load(corpus):
            path = tmp_path_factory.mktemp("lance")
            options = cls.source_options
            return loaded_factory(path, corpus, cls.load_options, cls.vector_index, **options)

        return load


class TestLanceUnindexedConformance(TestLanceConformance):
    load_options = {"scalar_indexes": False}


class TestLanceIvfConformance(TestLanceConformance):
    """An IVF vector index, searched in every partition (exact, through the index)."""

    vector_index = IvfFlat(distance_type="l2", num_partitions=8)
    source_options = {"nprobes": 8}


def test_ints_and_floats_in_one_field_filter_exactly(tmp_path):
    corpus = numeric_corpus()
    check_numeric_filters(loaded_factory(tmp_path, corpus), corpus, frozenset())


def test_selective_filters_fill_k_on_an_ivf_pq_index(tmp_path):
    corpus = conformance_corpus(n=20_000, dimension=16)
    db = lancedb.connect(tmp_path)
    load_collection(db, "ivf", corpus.embeddings, corpus.metadata, corpus.ids)
    config = IvfPq(distance_type="l2", num_partitions=32, num_sub_vectors=4)
    db.open_table("ivf").create_index("vector", config=config)
    queries = [Query(embedding=e) for e in corpus.embeddings[:4]]
    for flt in ({"$and": [{"bucket": 7}, {"tag": {"$in": ["red", "blue"]}}]}, {"bucket": 7}):
        matching = len(accepted_ids(corpus, flt))
        source = LanceDataSource(db, "ivf", k=10, filter=flt)
        assert [len(r.query_results) for r in source(queries)] == [min(10, matching)] * 4
        exact = LanceDataSource(db, "ivf", k=10, filter=flt, nprobes=32, refine_factor=50)
        for query, response in zip(queries, exact(queries)):
            distances = np.linalg.norm(corpus.embeddings - query.embedding, axis=1)
            allowed = accepted_ids(corpus, flt)
            nearest = sorted(allowed, key=lambda i: distances[i])[:10]
            assert sorted(i.id for i in response.query_results) == sorted(nearest)


@pytest.mark.parametrize(
    "flt",
    [
        {"tag": "it's"},
        {"n": {"$in": [1, 2]}},
        {"n": {"$gte": 7.5}},
        {"rand": {"$lt": 0.3}},
        {"rand": {"$gt": 0.3}},
        {"n": {"$ne": 3}},
        {"$not": {"rand": {"$gt": 0.5}}},
        {"flag": True, "tag": {"$nin": ["red", "blue"]}},
    ],
    ids=repr,
)
def test_the_where_clause_is_answered_by_the_scalar_indexes(tmp_path, flt):
    corpus = conformance_corpus(300)
    make = loaded_factory(tmp_path, corpus)
    source = make(k=5, filter=flt)
    query = source.table.search(corpus.embeddings[0]).where(source.native_filter, prefilter=True)
    plan = query.limit(5).explain_plan(verbose=True)
    assert "ScalarIndexQuery" in plan and "refine_filter=--" in plan, (source.native_filter, plan)


AWKWARD_ROWS = 12


def awkward_table() -> tuple[pa.Table, ConformanceCorpus]:
    """Columns of every kind the compiler special-cases, and the same rows as Python values."""
    nan, inf = float("nan"), float("inf")
    columns = {
        "x": pa.array([nan, -0.0, 0.0, inf, -inf, 1e300, None, 0.5, 2.0**53, -1.5, 7.0, 1.0]),
        "f": pa.array(
            [0.1, 0.5, 3.4028234663852886e38, inf, nan, None, -0.1, 1.0, 0.0, -inf, 2.5, 3.0],
            pa.float32(),
        ),
        "i8": pa.array([-128, 127, 0, None, 5, -5, 1, 2, 3, 4, 6, 7], pa.int8()),
        "u64": pa.array([0, 2**64 - 1, None, 5, 6, 7, 8, 9, 10, 11, 12, 13], pa.uint64()),
        "big": pa.array([2**53 + 1, 2**63 - 1, -(2**63), None, 0, 1, 2, 3, 4, 5, 6, 7]),
        "tags": pa.array([["a"], ["a", "b"], [], None, ["b"]] + [["c"]] * 7),
        "select": pa.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]),
        "Tag": pa.array(["X", "x", None, "X", "x", "X", "x", "X", "x", "X", "x", "X"]),
        "flag": pa.array([True, False, None] * 4),
    }
    table = pa.table(columns)
    embeddings = np.random.default_rng(0).standard_normal((AWKWARD_ROWS, 4)).astype(np.float32)
    metadata = table.to_pylist()  # what the rows hold, read back as Python values
    ids = list(range(AWKWARD_ROWS))
    flat = pa.array(embeddings.ravel(), pa.float32())
    table = table.append_column("id", pa.array(ids)).append_column(
        "vector", pa.FixedSizeListArray.from_arrays(flat, 4)
    )
    return table, ConformanceCorpus(embeddings, ids, metadata)


AWKWARD_FILTERS = [
    {"x": {"$gt": 5}},
    {"x": {"$gte": 0}},
    {"x": {"$lt": 0}},
    {"x": 0},
    {"x": -0.0},
    {"x": {"$ne": 0.0}},
    {"$not": {"x": {"$gt": 1}}},
    {"$not": {"x": {"$lte": 1}}},
    {"x": {"$lt": float("inf")}},
    {"x": {"$gte": float("inf")}},
    {"x": float("inf")},
    {"x": {"$in": [2**53, 2**53 + 1]}},
    {"x": 2**53 + 1},
    {"x": {"$gt": 2**53 + 1}},
    {"x": {"$lte": 10**400}},
    {"f": {"$lte": 0.1}},
    {"f": {"$gt": 0.1}},
    {"f": 0.1},
    {"f": float(np.float32(0.1))},
    {"f": {"$in": [0.1, 0.5, -0.1]}},
    {"f": {"$lt": 1e39}},
    {"f": {"$gte": 1e39}},
    {"f": {"$gt": -1e39}},
    {"f": {"$lte": -1e39}},
    {"$not": {"f": {"$gte": 1}}},
    {"i8": {"$gte": -128.5}},
    {"i8": {"$lt": 1000}},
    {"i8": {"$gt": -1000}},
    {"i8": 127},
    {"i8": 1000},
    {"i8": {"$nin": [127, 1000, 2.5]}},
    {"u64": 2**64 - 1},
    {"u64": {"$gt": -1}},
    {"u64": {"$lte": 2**64}},
    {"big": 2**53 + 1},
    {"big": {"$gte": 2**63 - 1}},
    {"big": {"$lte": -(2**63)}},
    {"big": float(2**53)},
    {"tags": "a"},
    {"tags": {"$ne": "a"}},
    {"select": 1},
    {"Tag": "X"},
    {"tag": "X"},
    {"flag": True},
    {"flag": {"$ne": True}},
    {"flag": 1},
    {"id": 3},
    {"vector": {"$ne": 1}},
]


@pytest.mark.parametrize("scalar_indexes", [False, True])
def test_awkward_columns_filter_like_the_reference(tmp_path, scalar_indexes):
    table, corpus = awkward_table()
    db = lancedb.connect(tmp_path)
    created = db.create_table("awkward", data=table)
    if scalar_indexes:
        for name in ("x", "f", "i8", "u64", "big", "select", "Tag"):
            created.create_index(name, config=BTree())
    for flt in AWKWARD_FILTERS:
        source = LanceDataSource(db, "awkward", k=AWKWARD_ROWS, filter=flt)
        expected = accepted_ids(corpus, flt)
        scanned = [i for batch in source.scan() for i in batch.ids]
        assert sorted(scanned) == expected, (flt, source.native_filter)
        assert source.count() == len(expected), flt
        (response,) = source([Query(embedding=np.zeros(4))])
        assert sorted(i.id for i in response.query_results) == expected, flt


def test_named_columns_item_key_and_recorded_cosine(tmp_path):
    db = lancedb.connect(tmp_path)
    vectors = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    items = [f"item-{i}" for i in range(50)]
    metadata = [{"n": i} for i in range(50)]
    load_collection(db, "cos", vectors, metadata, items=items, metric="cosine")
    source = LanceDataSource(db, "cos", k=3, item_key="item", filter={"n": {"$lt": 25}})
    assert (source.metric, source.dimension, source.vector_column) == ("cosine", 4, "vector")
    (response,) = source([Query(embedding=vectors[3])])
    top = response.query_results[0]
    assert (top.id, top.item, top.data) == (3, "item-3", {"n": 3})
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = np.sort(1 - unit[:25] @ unit[3])[:3]
    distances = [i.internal.distance for i in response.query_results]
    assert distances == pytest.approx(expected, abs=1e-5)
    assert response.data == {"metric": "cosine"}


def test_dot_metric_distance_is_minus_the_product(tmp_path):
    db = lancedb.connect(tmp_path)
    vectors = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    load_collection(db, "dot", vectors, metric="ip")
    (response,) = LanceDataSource(db, "dot", k=5)([Query(embedding=vectors[0])])
    products = np.sort(-(vectors @ vectors[0]))[:5]
    distances = [i.internal.distance for i in response.query_results]
    assert distances == pytest.approx(products, rel=1e-5)


def test_missing_table_id_and_vector_columns_are_clear_errors(tmp_path):
    db = lancedb.connect(tmp_path)
    load_collection(db, "present", np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"no table 'absent'.*present"):
        LanceDataSource(db, "absent")
    with pytest.raises(ValueError, match=r"no id column 'key'"):
        LanceDataSource(db, "present", id_column="key")
    two = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4), pa.float32()), 2)
    db.create_table("two", data=pa.table({"id": [0, 1], "a": two, "b": two}))
    with pytest.raises(ValueError, match=r"vector columns \['a', 'b'\], got None"):
        LanceDataSource(db, "two")
    assert LanceDataSource(db, "two", vector_column="b").dimension == 2


def test_loader_refuses_mixed_kinds_and_overwriting(tmp_path):
    db = lancedb.connect(tmp_path)
    with pytest.raises(ValueError, match="field 'x': a LanceDB column holds one type"):
        load_collection(db, "mixed", np.ones((2, 3)), [{"x": True}, {"x": 1}])
    load_collection(db, "twice", np.ones((2, 3)), [{"x": None}, {}])
    assert db.open_table("twice").schema.names == ["id", "vector"]  # all-null: no column
    with pytest.raises(ValueError, match="already exists; pass recreate=True"):
        load_collection(db, "twice", np.ones((2, 3)))
    load_collection(db, "twice", np.ones((3, 3)), recreate=True)
    assert LanceDataSource(db, "twice").count() == 3


class TestLanceNames(NameConformance):
    refused_keys = ("_distance", "query_index", "_rowid", "a.b", "a`b")
    refused_collections = ("a b", "t" * 250)

    @pytest.fixture(scope="class")
    @classmethod
    def source_config(cls, tmp_path_factory):
        return {"backend": "lancedb", "path": str(tmp_path_factory.mktemp("lance-names"))}


def test_a_table_with_a_column_a_search_cannot_return_is_refused_when_opened(tmp_path):
    db = lancedb.connect(tmp_path)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4, np.float32)), 2)
    table = pa.table({"id": [0, 1], "vector": vectors, "_distance": [0.5, 1.5]})
    db.create_table("made_elsewhere", data=table)
    with pytest.raises(ValueError, match="column '_distance' cannot be read back by a search"):
        LanceDataSource(db, "made_elsewhere", k=1)


def test_a_narrowed_source_opens_again_narrowed(tmp_path):
    corpus = conformance_corpus(200)
    data = Corpus(corpus.embeddings, [None] * 200, corpus.metadata)
    first, further = {"n": {"$lt": 5}}, {"tag": {"$in": ["red", "blue"]}}
    spec = SourceSpec(
        backend="lancedb", path=str(tmp_path), collection="c", filter=first, data=lambda: data
    )
    source = open_source(spec)
    try:
        view = source.narrowed(further)
        expected = sorted(accepted_ids(corpus, {"$and": [first, further]}))
        assert sorted(i for batch in view.scan() for i in batch.ids) == expected
        again = view.opener()()  # as another process opens it
        try:
            assert sorted(i for batch in again.scan() for i in batch.ids) == expected
        finally:
            again.close()
    finally:
        source.close()


def test_metadata_holding_lists_loads_with_scalar_indexes_on_the_scalars_only(tmp_path):
    db = lancedb.connect(tmp_path)
    metadata = [{"fp": [1.0, float(i)], "n": i} for i in range(3)]
    load_collection(db, "lists", np.eye(3, dtype=np.float32), metadata)
    assert {tuple(index.columns) for index in db.open_table("lists").list_indices()} == {("n",)}
    source = LanceDataSource(db, "lists", k=1)
    (batch,) = list(source.scan(10, fields=["fp"]))
    assert batch.columns["fp"].tolist() == [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]
