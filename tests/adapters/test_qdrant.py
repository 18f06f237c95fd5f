"""QdrantDataSource on qdrant-client's local mode and on a real Qdrant server.

The server runs when EMB_OPT_QDRANT_URL points at one or Docker can start the compose
image; otherwise those tests skip with the reason. No Qdrant server ships on PyPI, so the
local mode (an emulation) is what always runs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numpy as np
import pytest
from engines import (
    check_numeric_filters,
    check_parts_cover_the_scan,
    free_port,
    mixed_point_ids,
    numeric_corpus,
    server_url,
    unique,
)
from qdrant_client import QdrantClient, models

from emb_opt.adapters.qdrant import QdrantDataSource, load_collection
from emb_opt.adapters.retry import RetryPolicy
from emb_opt.errors import BackendError
from emb_opt.schemas import Query
from emb_opt.testing import DataSourceConformance, NameConformance, conformance_corpus

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)


@contextlib.contextmanager
def qdrant_container(image: str) -> Iterator[str]:
    from testcontainers.qdrant import QdrantContainer

    with QdrantContainer(image=image) as container:
        yield f"http://{container.rest_host_address}"


@pytest.fixture(scope="session")
def qdrant_url() -> Iterator[str]:
    """A real Qdrant server: EMB_OPT_QDRANT_URL, or a container of the compose image."""
    with server_url("qdrant", "EMB_OPT_QDRANT_URL", qdrant_container) as url:
        yield url


def loaded_factory(client: QdrantClient, corpus, **source_options):
    name = unique("conf")
    load_collection(client, name, corpus.embeddings, corpus.metadata, corpus.ids)

    def make(k, filter=None, distance_cutoff=None):
        return QdrantDataSource(
            client, name, k=k, filter=filter, distance_cutoff=distance_cutoff, **source_options
        )

    return make


class TestQdrantLocalConformance(DataSourceConformance):
    """Local mode evaluates filters in Python (slow): fewer random examples, every check."""

    property_examples = 12
    string_ids = "uuid"

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls):
        return functools.partial(loaded_factory, QdrantClient(":memory:"))


class TestQdrantServerConformance(DataSourceConformance):
    """The same suite against a real Qdrant server (nulls stored as null)."""

    string_ids = "uuid"

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, qdrant_url):
        return functools.partial(loaded_factory, QdrantClient(url=qdrant_url))


@pytest.fixture(params=["local", "server"])
def client(request):
    if request.param == "local":
        return QdrantClient(":memory:")
    return QdrantClient(url=request.getfixturevalue("qdrant_url"))


def test_ints_and_floats_in_one_field_filter_exactly(client):
    corpus = numeric_corpus()
    check_numeric_filters(loaded_factory(client, corpus), corpus, frozenset())


def test_parts_of_a_scan_over_uuid_and_integer_ids(client):
    corpus = conformance_corpus(300)
    name = unique("mixed_ids")
    load_collection(client, name, corpus.embeddings, corpus.metadata, mixed_point_ids(300))
    check_parts_cover_the_scan(QdrantDataSource(client, name, k=1, filter={"tag": {"$ne": "red"}}))


@pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning")
def test_named_vector_item_key_and_search_params(client):
    name = unique("named")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 4)).astype(np.float32)
    items = [f"item-{i}" for i in range(50)]
    load_collection(
        client,
        name,
        vectors,
        [{"n": i} for i in range(50)],
        items=items,
        vector_name="dense",
        metric="cosine",
        recreate=True,
    )
    source = QdrantDataSource(
        client,
        name,
        k=3,
        item_key="item",
        filter={"n": {"$lt": 25}},
        search_params={"hnsw_ef": 64, "exact": True},
    )
    assert (source.vector_name, source.metric, source.dimension) == ("dense", "cosine", 4)
    (response,) = source([Query(embedding=vectors[3])])
    top = response.query_results[0]
    assert (top.id, top.item, top.data) == (3, "item-3", {"n": 3})
    assert top.internal.distance == pytest.approx(0.0, abs=1e-6)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = 1 - unit[:25] @ unit[3]
    distances = [item.internal.distance for item in response.query_results]
    assert distances == pytest.approx(np.sort(expected)[:3], abs=1e-5)
    assert response.data == {"metric": "cosine"}


def test_dot_metric_distance_is_minus_the_product(client):
    vectors = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    name = unique("dot")
    load_collection(client, name, vectors, metric="ip")
    (response,) = QdrantDataSource(client, name, k=5)([Query(embedding=vectors[0])])
    products = np.sort(-(vectors @ vectors[0]))[:5]
    assert [i.internal.distance for i in response.query_results] == pytest.approx(
        products, rel=1e-5
    )


def test_missing_collection_lists_the_existing_ones(client):
    present = unique("present")
    load_collection(client, present, np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"no collection 'absent'.*{present}"):
        QdrantDataSource(client, "absent")


def test_loader_refuses_to_overwrite_without_recreate(client):
    name = unique("twice")
    load_collection(client, name, np.ones((2, 3)))
    with pytest.raises(ValueError, match="already exists; pass recreate=True"):
        load_collection(client, name, np.ones((2, 3)))
    load_collection(client, name, np.ones((3, 3)), recreate=True)
    assert client.count(name).count == 3


def test_unreachable_server_names_the_address():
    port = free_port()
    client = QdrantClient(url=f"http://127.0.0.1:{port}", timeout=2, check_compatibility=False)
    with pytest.raises(BackendError, match=f"Qdrant get_collection on http://127.0.0.1:{port}"):
        QdrantDataSource(client, "anything", retry=FAST_RETRY)


def test_multiple_named_vectors_need_a_choice():
    client = QdrantClient(":memory:")
    config = {
        "a": models.VectorParams(size=2, distance=models.Distance.EUCLID),
        "b": models.VectorParams(size=3, distance=models.Distance.EUCLID),
    }
    client.create_collection("two", vectors_config=config)
    with pytest.raises(ValueError, match=r"vector_name must be one of .*\['a', 'b'\]"):
        QdrantDataSource(client, "two")
    assert QdrantDataSource(client, "two", vector_name="b").dimension == 3


def test_close_leaves_the_callers_client_open():
    client = QdrantClient(":memory:")
    load_collection(client, "keep", np.ones((2, 3)))
    with QdrantDataSource(client, "keep", k=1) as source:
        source([Query(embedding=np.ones(3))])
    assert client.count("keep").count == 2


class TestQdrantLocalNames(NameConformance):
    refused_collections = ("a/b", "a:b", "x" * 256)

    @pytest.fixture(scope="class")
    @classmethod
    def source_config(cls, tmp_path_factory):
        return {"backend": "qdrant", "path": str(tmp_path_factory.mktemp("qdrant-names"))}


def test_a_key_qdrant_reads_as_a_path_is_projected_from_the_whole_payload(client):
    name = unique("dotted")
    vectors = np.eye(6, dtype=np.float32)
    metadata = [{"a.b": float(i), "c": i, "skip": "x"} for i in range(6)]
    load_collection(client, name, vectors, metadata, items=[f"it{i}" for i in range(6)])
    source = QdrantDataSource(client, name, k=2, item_key="item")
    assert source._payload_keys(("c",)) == ["c", "item"]
    assert source._payload_keys(("a.b", "c")) is True  # 'a.b' would be a path into 'a'
    (batch,) = list(source.scan(10, fields=["a.b", "c"]))
    assert batch.columns["a.b"].tolist() == [float(i) for i in range(6)]
    assert batch.items == [f"it{i}" for i in range(6)]
