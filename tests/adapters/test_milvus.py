"""MilvusDataSource on the Milvus 2.3.5 server, Milvus Lite, and Milvus >= 2.5 in Docker.

2.3.5 has no filter templates (escaped literals) and no nulls (metadata lives in the
dynamic field, so keys may be missing); Lite compares like Python, so the loader records
the metadata kinds; the Docker image (>= 2.5) runs the `filter_params` template path.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from engines import (
    TcpProxy,
    check_numeric_filters,
    host_port,
    numeric_corpus,
    server_url,
    unique,
)
from pymilvus import DataType, MilvusClient

from emb_opt.adapters.milvus import MilvusDataSource, load_collection
from emb_opt.adapters.retry import RetryPolicy
from emb_opt.errors import BackendError, SearchAborted, UnsupportedFilterError
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.schemas import Query
from emb_opt.testing import (
    FILTER_CASES,
    DataSourceConformance,
    NameConformance,
    conformance_corpus,
)
from emb_opt.testing.corpus import TRICKY_STRINGS
from emb_opt.testing.suite import assert_same_neighbours
from emb_opt.update import RLUpdate
from emb_opt.utils import build_batch_from_embeddings

pytestmark = pytest.mark.engine  # starts a real database server

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)


@contextlib.contextmanager
def milvus_container(image: str) -> Iterator[str]:
    from testcontainers.milvus import MilvusContainer

    with MilvusContainer(image=image) as container:
        yield container.get_connection_url()


@pytest.fixture(scope="session")
def milvus_container_uri() -> Iterator[str]:
    """A Milvus >= 2.5 server: EMB_OPT_MILVUS_URI, or a container of the compose image."""
    with server_url("milvus", "EMB_OPT_MILVUS_URI", milvus_container) as url:
        yield url


EXTRA_STRINGS = (
    "emoji 😀",
    "nul\x00x",
    "bell\x07x",
    "del\x7fx",
    "sep\u2028x",
    'q"\\',
    "\\",
    '\\"',
    "{p0}",
    "$meta",
    'x") or exists tag or ("',
)


def loaded_factory(client, corpus, **options):
    name = unique("conf")
    load_collection(client, name, corpus.embeddings, corpus.metadata, corpus.ids)

    def make(k, filter=None, distance_cutoff=None):
        return MilvusDataSource(
            client, name, k=k, filter=filter, distance_cutoff=distance_cutoff, **options
        )

    return make


class TestMilvusServerConformance(DataSourceConformance):
    """The real Milvus 2.3.5 server: escaped literals, dynamic-field metadata."""

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, milvus_server):
        return functools.partial(loaded_factory, MilvusClient(uri=milvus_server.uri))


class TestMilvusLiteConformance(DataSourceConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, tmp_path_factory):
        path = tmp_path_factory.mktemp("milvus-lite") / "conformance.db"
        return functools.partial(loaded_factory, MilvusClient(str(path)))


class TestMilvusDockerConformance(DataSourceConformance):
    """Milvus >= 2.5 (the compose image): values travel as `filter_params` templates."""

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, milvus_container_uri):
        return functools.partial(loaded_factory, MilvusClient(uri=milvus_container_uri))


@pytest.fixture(scope="module", params=["server", "lite", "docker"])
def client(request, tmp_path_factory):
    if request.param == "server":
        return MilvusClient(uri=request.getfixturevalue("milvus_server").uri)
    if request.param == "lite":
        return MilvusClient(str(tmp_path_factory.mktemp("lite") / "lite.db"))
    return MilvusClient(uri=request.getfixturevalue("milvus_container_uri"))


@pytest.fixture(scope="module")
def numeric(client):
    """(corpus, factory) of the numeric corpus, loaded once per engine."""
    corpus = numeric_corpus()
    return corpus, loaded_factory(client, corpus)


def test_dialect_matches_the_engine(client, numeric):
    dialect = numeric[1](k=1, filter={"x": 1}).dialect
    version = client.get_server_version()
    if version.startswith("milvus_lite"):
        assert dialect == "lite"
    else:
        assert dialect == ("server" if version.startswith(("v2.3", "v2.4")) else "templates")


def test_ints_and_floats_in_one_field_filter_exactly(numeric):
    corpus, make = numeric
    check_numeric_filters(make, corpus, frozenset())


def test_injection_strings_match_exactly_what_the_reference_says(client):
    strings = TRICKY_STRINGS + EXTRA_STRINGS
    rng = np.random.default_rng(4)
    corpus = conformance_corpus(len(strings) * 3)
    metadata = [{"tag": strings[i % len(strings)]} for i in range(len(corpus.ids))]
    corpus = type(corpus)(
        rng.standard_normal(corpus.embeddings.shape).astype(np.float32), corpus.ids, metadata
    )
    make = loaded_factory(client, corpus)
    k = len(corpus.ids)
    for text in (*EXTRA_STRINGS, '") or true or ("', "trailing\\", "new\nline"):
        for flt in (
            {"tag": text},
            {"tag": {"$ne": text}},
            {"tag": {"$in": [text, "red"]}},
            {"tag": {"$nin": [text]}},
        ):
            assert_same_neighbours(corpus, make(k=k, filter=flt), flt, k)


def test_static_scalar_fields(client):
    """A user schema with typed fields: int fields take float bounds, kinds fold."""
    corpus = conformance_corpus(300)
    defaults = {"rand": 0.5, "n": 0, "price": 1.0, "flag": False, "tag": "red", "bucket": 0}
    rows = [{**defaults, **{k: v for k, v in m.items() if v is not None}} for m in corpus.metadata]
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=corpus.dimension)
    for field, kind in (
        ("rand", DataType.DOUBLE),
        ("n", DataType.INT64),
        ("price", DataType.DOUBLE),
        ("flag", DataType.BOOL),
        ("bucket", DataType.INT32),
    ):
        schema.add_field(field, kind)
    schema.add_field("tag", DataType.VARCHAR, max_length=256)
    index = client.prepare_index_params()
    index.add_index(field_name="emb", index_type="FLAT", metric_type="L2")
    name = unique("static")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(
        name, [{**row, "pk": i, "emb": corpus.embeddings[i].tolist()} for i, row in enumerate(rows)]
    )
    client.flush(name)
    filled = type(corpus)(corpus.embeddings, corpus.ids, rows)
    for case in FILTER_CASES:
        source = MilvusDataSource(client, name, k=len(rows), filter=case.filter)
        assert (source.id_field, source.vector_field) == ("pk", "emb")
        assert_same_neighbours(filled, source, case.filter, len(rows))


def test_lite_without_kinds_refuses_what_python_comparisons_would_get_wrong(tmp_path):
    client = MilvusClient(str(tmp_path / "lite.db"))
    make = loaded_factory(client, conformance_corpus(50), field_kinds={}, kind_sample=0)
    for flt in ({"flag": True}, {"n": 1}, {"rand": {"$lt": 0.5}}):
        with pytest.raises(UnsupportedFilterError, match="field_kinds"):
            make(k=5, filter=flt)
    assert make(k=5, filter={"tag": "red"}).expression == 'tag == "red"'
    assert make(k=5, filter={"n": {"$in": [3, 4]}}).expression == "n in [3, 4]"


def test_metrics_item_key_and_sample(client):
    rng = np.random.default_rng(6)
    vectors = rng.standard_normal((60, 6)).astype(np.float32)
    for metric in ("cosine", "ip"):
        name = unique(metric)
        load_collection(
            client,
            name,
            vectors,
            [{"n": i} for i in range(60)],
            items=[f"it{i}" for i in range(60)],
            metric=metric,
        )
        source = MilvusDataSource(client, name, k=3, item_key="item", filter={"n": {"$gte": 10}})
        (response,) = source([Query(embedding=vectors[0])])
        if metric == "cosine":
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            distances = 1 - unit[10:] @ unit[0]
        else:
            distances = -(vectors[10:] @ vectors[0])
        assert [i.id for i in response.query_results] == list(np.argsort(distances)[:3] + 10)
        got = [i.internal.distance for i in response.query_results]
        assert got == pytest.approx(np.sort(distances)[:3], abs=1e-4)
        assert response.query_results[0].item == f"it{response.query_results[0].id}"
        everything = MilvusDataSource(client, name, k=3).sample(60, seed=1)  # no filter
        assert sorted(i.id for i in everything) == list(range(60))
        sampled = source.sample(7, seed=2)
        assert len({i.id for i in sampled}) == 7 and all(i.data["n"] >= 10 for i in sampled)
        assert all(np.allclose(i.embedding, vectors[i.id]) for i in sampled)


def test_loader_refuses_metadata_that_would_overwrite_id_or_vector(tmp_path):
    client = MilvusClient(str(tmp_path / "lite.db"))
    with pytest.raises(ValueError, match="row 1: metadata key 'id' is the collection's field"):
        load_collection(client, "clash", np.ones((2, 3)), [{"a": 1}, {"id": 7}])


def test_missing_collection_and_missing_index_are_clear_errors(client):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=3)
    no_index = unique("no_index")
    client.create_collection(no_index, schema=schema)
    with pytest.raises(ValueError, match=rf"no collection 'absent'; collections: \[.*'{no_index}'"):
        MilvusDataSource(client, "absent")
    with pytest.raises(ValueError, match="has no index on 'vector'"):
        MilvusDataSource(client, no_index)


@pytest.fixture(scope="module")
def climb_collection(milvus_server):
    """A collection on the 2.3.5 server for the fault tests, loaded once."""
    corpus = conformance_corpus(500, 16)
    client = MilvusClient(uri=milvus_server.uri)
    load_collection(client, "climb", corpus.embeddings, corpus.metadata, corpus.ids, recreate=True)
    return milvus_server


@pytest.fixture
def proxied(climb_collection):
    """A MilvusClient that reaches the 2.3.5 server through a proxy the test can cut."""
    proxy = TcpProxy(host_port(climb_collection.uri)[1]).start()
    yield proxy, MilvusClient(uri=f"http://127.0.0.1:{proxy.port}")
    proxy.stop()


def climb(source, iterations, on_iteration=None):
    runner = Runner(source, None, TargetScore(), None, RLUpdate(lrs=[0.25]))
    start = build_batch_from_embeddings(np.random.default_rng(0).standard_normal((3, 16)))
    return runner.search(start, iterations, verbose=False, on_iteration=on_iteration)


def test_connection_reset_mid_search_is_retried(proxied):
    proxy, client = proxied
    patient = RetryPolicy(attempts=20, initial_delay=0.2, max_delay=2.0)  # ~35 s budget
    source = MilvusDataSource(client, "climb", k=4, filter={"n": {"$ne": 3}}, retry=patient)

    def on_iteration(log) -> None:
        if log.counters.iterations == 2:
            proxy.stop()
            threading.Thread(target=lambda: (time.sleep(1.0), proxy.start())).start()

    _, log = climb(source, 5, on_iteration)
    assert log.counters.iterations == 5
    assert all(len(q.query_results) == 4 for batch in log.batches for q in batch.queries)


def test_server_gone_aborts_with_the_address_and_keeps_the_log(proxied):
    proxy, client = proxied
    source = MilvusDataSource(client, "climb", k=4, retry=FAST_RETRY, timeout=5)

    def on_iteration(log) -> None:
        if log.counters.iterations == 2:
            proxy.stop()

    with pytest.raises(SearchAborted) as caught:
        climb(source, 6, on_iteration)
    assert isinstance(caught.value.__cause__, BackendError)
    assert f"Milvus search on http://127.0.0.1:{proxy.port}" in str(caught.value.__cause__)
    assert caught.value.log.counters.iterations == 2
    with pytest.raises(BackendError, match=f"127.0.0.1:{proxy.port}"):
        MilvusDataSource(client, "climb", retry=FAST_RETRY, timeout=5)


class TestMilvusLiteNames(NameConformance):
    refused_keys = ("$meta",)
    refused_collections = ("a-b", "1abc", "x" * 256)

    @pytest.fixture(scope="class")
    @classmethod
    def source_config(cls, tmp_path_factory):
        return {"backend": "milvus", "path": str(tmp_path_factory.mktemp("milvus") / "n.db")}


def test_k_beyond_the_milvus_limit_is_refused(tmp_path):
    with pytest.raises(ValueError, match="k=16385 is beyond the MilvusDataSource limit of 16384"):
        MilvusDataSource(MilvusClient(str(tmp_path / "k.db")), "anything", k=16385)


def test_schema_fields_are_reported_by_their_types_and_projected(client):
    """Typed fields get their kinds from the schema (an ARRAY of numbers is a vector), the
    dynamic field's keys from the sample; a key Milvus cannot name in output_fields is read
    with the whole dynamic field and picked after."""
    rng = np.random.default_rng(4)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("price", DataType.DOUBLE)
    schema.add_field("flag", DataType.BOOL)
    schema.add_field("tag", DataType.VARCHAR, max_length=16)
    schema.add_field("scores", DataType.ARRAY, element_type=DataType.DOUBLE, max_capacity=3)
    index = client.prepare_index_params()
    index.add_index(field_name="emb", index_type="FLAT", metric_type="L2")
    name = unique("typed")
    client.create_collection(name, schema=schema, index_params=index)
    rows = [
        {
            "pk": i,
            "emb": rng.standard_normal(4).tolist(),
            "price": float(i) / 4,
            "flag": i % 2 == 0,
            "tag": str(i),
            "scores": rng.standard_normal(3).tolist(),
            "odd key": float(i),
            "item": f"item {i}",
        }
        for i in range(40)
    ]
    client.insert(name, rows)
    client.flush(name)
    source = MilvusDataSource(client, name, k=3, item_key="item", filter={"price": {"$lt": 5}})
    kinds = {f.name: (f.kind, f.width, f.sampled) for f in source.stored_fields()}
    assert kinds == {
        "price": ("number", 1, 20),
        "flag": ("other", 0, 20),
        "tag": ("text", 0, 20),  # numbers as strings
        "scores": ("vector", 3, 20),
        "odd key": ("number", 1, 20),
    }
    (batch,) = list(source.scan(100, fields=["scores", "odd key", "price"]))
    assert batch.ids == list(range(20)) and batch.items == [f"item {i}" for i in range(20)]
    np.testing.assert_allclose(batch.columns["scores"], [r["scores"] for r in rows[:20]])
    assert batch.columns["odd key"].tolist() == [float(i) for i in range(20)]
    assert source._output_of(("price", "scores")) == ["emb", "price", "scores", "item"]
