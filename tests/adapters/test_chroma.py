"""ChromaDataSource on a `chroma run` server, on embedded Chroma, and on the Docker image.

Chroma searches HNSW only: the test collections use an `ef_search` larger than the
collection, which makes the search exact. Chroma cannot hold nulls (dropped on load, same
semantics) and has no exact form for a negated range (declared unsupported).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator

import chromadb
import numpy as np
import pytest
from engines import (
    ChromaServer,
    check_numeric_filters,
    host_port,
    numeric_corpus,
    server_url,
    unique,
)

from emb_opt.adapters.chroma import DOCUMENT, ChromaDataSource, load_collection
from emb_opt.adapters.retry import RetryPolicy
from emb_opt.errors import BackendError, SearchAborted
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.schemas import Query
from emb_opt.synthetic import random_corpus
from emb_opt.testing import DataSourceConformance, NameConformance
from emb_opt.testing.cases import NEGATED_RANGE
from emb_opt.update import RLUpdate
from emb_opt.utils import build_batch_from_embeddings

pytestmark = pytest.mark.engine  # starts a real database server

UNSUPPORTED = frozenset({NEGATED_RANGE})
WHOLE = "Chroma's get returns whole metadatas: a projected scan picks the fields after reading"
FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)


@contextlib.contextmanager
def chroma_container(image: str) -> Iterator[str]:
    from testcontainers.chroma import ChromaContainer

    with ChromaContainer(image=image) as container:
        config = container.get_config()
        yield f"http://{config['host']}:{config['port']}"


@pytest.fixture(scope="session")
def chroma_container_url() -> Iterator[str]:
    """A Chroma server in Docker: EMB_OPT_CHROMA_URL, or a container of the compose image."""
    with server_url("chroma", "EMB_OPT_CHROMA_URL", chroma_container) as url:
        yield url


def loaded_factory(client, corpus):
    name = unique("conf")
    load_collection(
        client,
        name,
        corpus.embeddings,
        corpus.metadata,
        corpus.ids,
        ef_search=4 * len(corpus.ids),
        ef_construction=400,
    )

    id_type = int if all(isinstance(i, int) for i in corpus.ids) else str

    def make(k, filter=None, distance_cutoff=None):
        return ChromaDataSource(
            client, name, k=k, filter=filter, distance_cutoff=distance_cutoff, id_type=id_type
        )

    return make


class TestChromaServerConformance(DataSourceConformance):
    unsupported = UNSUPPORTED
    whole_payloads = WHOLE

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, chroma_server):
        return functools.partial(loaded_factory, chroma_server.client())


class TestChromaEmbeddedConformance(DataSourceConformance):
    unsupported = UNSUPPORTED
    whole_payloads = WHOLE

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, tmp_path_factory):
        client = chromadb.PersistentClient(path=str(tmp_path_factory.mktemp("chroma-embedded")))
        return functools.partial(loaded_factory, client)


class TestChromaDockerConformance(DataSourceConformance):
    unsupported = UNSUPPORTED
    whole_payloads = WHOLE

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, chroma_container_url):
        host, port = host_port(chroma_container_url)
        return functools.partial(loaded_factory, chromadb.HttpClient(host=host, port=port))


@pytest.fixture(params=["server", "embedded", "docker"])
def client(request, tmp_path):
    if request.param == "server":
        return request.getfixturevalue("chroma_server").client()
    if request.param == "embedded":
        return chromadb.PersistentClient(path=str(tmp_path / "embedded"))
    host, port = host_port(request.getfixturevalue("chroma_container_url"))
    return chromadb.HttpClient(host=host, port=port)


def test_ints_and_floats_in_one_field_filter_exactly(client):
    """Chroma truncates float bounds against int metadata; the compiled guards undo it."""
    corpus = numeric_corpus()
    check_numeric_filters(loaded_factory(client, corpus), corpus, UNSUPPORTED)


def test_documents_as_items_and_cosine_and_ip_distances(client):
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((40, 5)).astype(np.float32)
    texts = [f"doc {i}" for i in range(40)]
    for metric in ("cosine", "ip"):
        name = unique(f"docs_{metric}")
        load_collection(
            client,
            name,
            vectors,
            [{"n": i} for i in range(40)],
            items=texts,
            item_key=DOCUMENT,
            metric=metric,
            ef_search=200,
        )
        source = ChromaDataSource(client, name, k=4, item_key=DOCUMENT, id_type=int)
        (response,) = source([Query(embedding=vectors[7])])
        if metric == "cosine":
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            distances = 1 - unit @ unit[7]
        else:
            distances = -(vectors @ vectors[7])
        nearest = int(np.argmin(distances))
        top = response.query_results[0]
        assert (top.id, top.item, top.data) == (nearest, f"doc {nearest}", {"n": nearest})
        assert source.metric == metric
        got = [i.internal.distance for i in response.query_results]
        assert got == pytest.approx(np.sort(distances)[:4], abs=1e-4)


def test_loader_batches_and_sample(client):
    name = unique("batched")
    corpus = random_corpus(50, 4, seed=1)
    load_collection(
        client,
        name,
        corpus.embeddings,
        corpus.metadata,
        items=corpus.items,
        batch_size=7,
        recreate=True,
    )
    source = ChromaDataSource(
        client, name, k=2, item_key="item", id_type=int, filter={"rand": {"$lt": 0.5}}
    )
    assert source.collection.count() == 50
    items = source.sample(5, seed=3)
    assert len({i.id for i in items}) == 5
    assert all(i.data["rand"] < 0.5 and i.item == corpus.items[i.id] for i in items)
    assert all(np.array_equal(i.embedding, corpus.embeddings[i.id]) for i in items)


def test_missing_and_empty_collections_are_clear_errors(client):
    empty = unique("empty")
    client.get_or_create_collection(empty, embedding_function=None)
    with pytest.raises(ValueError, match=rf"no collection 'absent'.*{empty}"):
        ChromaDataSource(client, "absent")
    with pytest.raises(ValueError, match="is empty: its vector dimension is unknown"):
        ChromaDataSource(client, empty)


@pytest.fixture
def own_server(tmp_path):
    """A server of this test's own, which it may stop and restart."""
    server = ChromaServer(tmp_path / "data").start()
    corpus = random_corpus(2000, 16, seed=5)
    load_collection(
        server.client(),
        "climb",
        corpus.embeddings,
        corpus.metadata,
        items=corpus.items,
        ef_search=4000,
    )
    yield server
    server.close()


def test_unreachable_server_names_the_address(own_server):
    client = own_server.client()
    own_server.stop()
    with pytest.raises(BackendError, match=rf"Chroma get_collection on {own_server.url}"):
        ChromaDataSource(client, "climb", retry=FAST_RETRY)


def climb(source, iterations, on_iteration=None):
    runner = Runner(source, None, TargetScore(), None, RLUpdate(lrs=[0.25]))
    start = build_batch_from_embeddings(np.random.default_rng(0).standard_normal((4, 16)))
    return runner.search(start, iterations, verbose=False, on_iteration=on_iteration)


def test_search_survives_a_server_restart(own_server):
    patient = RetryPolicy(attempts=20, initial_delay=0.2, max_delay=2.0)  # ~35 s budget
    source = ChromaDataSource(
        own_server.client(),
        "climb",
        k=5,
        item_key="item",
        filter={"rand": {"$lt": 0.9}},
        id_type=int,
        retry=patient,
    )
    first_pid = own_server.proc.pid
    restarts = []

    def restart_later() -> None:
        time.sleep(1.0)  # the next query meets a stopped server and has to retry
        own_server.start()
        restarts.append(own_server.proc.pid)

    def on_iteration(log) -> None:
        if log.counters.iterations == 2:
            own_server.stop()
            threading.Thread(target=restart_later).start()

    _, log = climb(source, 6, on_iteration)
    assert log.counters.iterations == 6 and log.counters.data_source_calls == 6
    assert restarts and restarts[0] != first_pid
    assert all(len(q.query_results) == 5 for batch in log.batches for q in batch.queries)


def test_server_gone_for_good_aborts_and_keeps_the_finished_iterations(own_server):
    source = ChromaDataSource(own_server.client(), "climb", k=5, id_type=int, retry=FAST_RETRY)

    def on_iteration(log) -> None:
        if log.counters.iterations == 3:
            own_server.stop()

    with pytest.raises(SearchAborted, match="failed after 3 attempt") as caught:
        climb(source, 8, on_iteration)
    assert isinstance(caught.value.__cause__, BackendError)
    assert own_server.url in str(caught.value.__cause__)
    assert caught.value.log.counters.iterations == 3


class TestChromaEmbeddedNames(NameConformance):
    refused_keys = ("#x", "$x", "chroma:document", "")
    refused_collections = ("t", "a..bc", "-abc", "127.0.0.1")

    @pytest.fixture(scope="class")
    @classmethod
    def source_config(cls, tmp_path_factory):
        return {"backend": "chroma", "path": str(tmp_path_factory.mktemp("chroma-names"))}
