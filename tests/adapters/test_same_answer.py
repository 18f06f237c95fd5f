"""Same search, same answer: the seed tutorial finds the same items with the same scores on
NumPy, FAISS, HF Datasets, Qdrant, Chroma, Milvus, pgvector, LanceDB and Qdrant Edge (exact
search everywhere).

The tutorial data (10,000 x 64, fixed seed) is stored as float32 in every backend; FAISS is
a flat index, Qdrant local mode is brute force, Chroma's HNSW gets ef_search > n, Milvus
uses FLAT, the pgvector and LanceDB tables have no vector index and Qdrant Edge's segments
stay unindexed (plain). The climb is RLUpdate(lrs=[0.25]) from the same five start points.
"""

from __future__ import annotations

import string
from typing import Any

import lancedb
import numpy as np
import psycopg
import pytest
from pymilvus import MilvusClient
from qdrant_client import QdrantClient

from emb_opt.adapters.chroma import ChromaDataSource
from emb_opt.adapters.chroma import load_collection as load_chroma
from emb_opt.adapters.faiss import FaissDataSource, import_faiss
from emb_opt.adapters.huggingface import HuggingFaceDataSource
from emb_opt.adapters.lancedb import LanceDataSource
from emb_opt.adapters.lancedb import load_collection as load_lance
from emb_opt.adapters.milvus import MilvusDataSource
from emb_opt.adapters.milvus import load_collection as load_milvus
from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.adapters.pgvector import PgvectorDataSource
from emb_opt.adapters.pgvector import load_collection as load_pgvector
from emb_opt.adapters.qdrant import QdrantDataSource
from emb_opt.adapters.qdrant import load_collection as load_qdrant
from emb_opt.adapters.qdrant_edge import QdrantEdgeDataSource, create_shard
from emb_opt.runner import Runner
from emb_opt.schemas import FilterResponse, Item, ScoreResponse
from emb_opt.update import RLUpdate
from emb_opt.utils import build_batch_from_embeddings

K, ITERATIONS = 10, 15


class Tutorial:
    """The seed tutorial's data: random vectors, 10-letter items, a `rand` field."""

    def __init__(self, n: int = 10_000, size: int = 64) -> None:
        rng = np.random.RandomState(42)
        self.vectors = rng.randn(n, size).astype(np.float32)
        letters = list(string.ascii_lowercase)
        self.items = ["".join(rng.choice(letters, size=10)) for _ in range(n)]
        self.metadata = [{"rand": float(r)} for r in rng.rand(n)]
        self.ids = list(range(n))
        self.start = rng.randn(5, size)


def score(items: list[Item]) -> list[ScoreResponse]:
    embeddings = np.array([item.embedding for item in items], dtype=np.float64)
    distances = np.linalg.norm(embeddings - 0.75, axis=1) / np.sqrt(embeddings.shape[1])
    return [ScoreResponse(valid=True, score=float(s)) for s in np.exp(-0.5 * (distances / 5) ** 2)]


def keep_rand_below_0_9(items: list[Item]) -> list[FilterResponse]:
    return [FilterResponse(valid=item.data["rand"] < 0.9) for item in items]


def run(source: Any, tutorial: Tutorial) -> list[dict]:
    runner = Runner(source, keep_rand_below_0_9, score, None, RLUpdate(lrs=[0.25]))
    _, log = runner.search(build_batch_from_embeddings(tutorial.start), ITERATIONS, verbose=False)
    return log.compile_results()


@pytest.fixture(scope="module")
def tutorial() -> Tutorial:
    return Tutorial()


@pytest.fixture(scope="module")
def reference(tutorial) -> list[dict]:
    source = NumpyDataSource(
        tutorial.vectors, k=K, ids=tutorial.ids, items=tutorial.items, metadata=tutorial.metadata
    )
    return run(source, tutorial)


def faiss_source(t: Tutorial, _: Any) -> Any:
    index = import_faiss().IndexFlatL2(t.vectors.shape[1])
    index.add(t.vectors)
    return FaissDataSource(index, k=K, ids=t.ids, items=t.items, metadata=t.metadata)


def hf_source(t: Tutorial, _: Any) -> Any:
    from datasets import Dataset

    dataset = Dataset.from_dict(
        {
            "index": t.ids,
            "item": t.items,
            "embedding": list(t.vectors),
            "rand": [m["rand"] for m in t.metadata],
        }
    )
    dataset.add_faiss_index("embedding")
    return HuggingFaceDataSource(dataset, "embedding", k=K, item_key="item", id_key="index")


def qdrant_source(t: Tutorial, _: Any) -> Any:
    client = QdrantClient(":memory:")
    load_qdrant(client, "tutorial", t.vectors, t.metadata, t.ids, t.items)
    return QdrantDataSource(client, "tutorial", k=K, item_key="item")


def chroma_source(t: Tutorial, request: Any) -> Any:
    client = request.getfixturevalue("chroma_server").client()
    load_chroma(
        client,
        "tutorial",
        t.vectors,
        t.metadata,
        t.ids,
        t.items,
        ef_search=2 * len(t.ids),
        recreate=True,
    )
    return ChromaDataSource(client, "tutorial", k=K, item_key="item", id_type=int)


def milvus_source(t: Tutorial, request: Any) -> Any:
    client = MilvusClient(uri=request.getfixturevalue("milvus_server").uri)
    load_milvus(client, "tutorial", t.vectors, t.metadata, t.ids, t.items, recreate=True)
    return MilvusDataSource(client, "tutorial", k=K, item_key="item")


def milvus_lite_source(t: Tutorial, request: Any) -> Any:
    path = request.getfixturevalue("tmp_path") / "tutorial.db"
    client = MilvusClient(str(path))
    load_milvus(client, "tutorial", t.vectors, t.metadata, t.ids, t.items)
    return MilvusDataSource(client, "tutorial", k=K, item_key="item")


def pgvector_source(t: Tutorial, request: Any) -> Any:
    client = psycopg.connect(request.getfixturevalue("postgres_server").url, autocommit=True)
    request.addfinalizer(client.close)
    load_pgvector(client, "tutorial", t.vectors, t.metadata, t.ids, t.items, recreate=True)
    return PgvectorDataSource(client, "tutorial", k=K, item_key="item")


def lancedb_source(t: Tutorial, request: Any) -> Any:
    db = lancedb.connect(request.getfixturevalue("tmp_path") / "lancedb")
    load_lance(db, "tutorial", t.vectors, t.metadata, t.ids, t.items)
    return LanceDataSource(db, "tutorial", k=K, item_key="item")


def qdrant_edge_source(t: Tutorial, request: Any) -> Any:
    path = request.getfixturevalue("tmp_path") / "shard"
    create_shard(path, t.vectors, t.metadata, t.ids, t.items).close()
    source = QdrantEdgeDataSource(path, k=K, item_key="item")
    request.addfinalizer(source.close)
    return source


ON_A_SERVER = [pytest.mark.engine]  # the session's chroma run, Milvus 2.3.5 and PostgreSQL


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(faiss_source, id="faiss"),
        pytest.param(hf_source, id="hf"),
        pytest.param(qdrant_source, id="qdrant"),
        pytest.param(chroma_source, id="chroma", marks=ON_A_SERVER),
        pytest.param(milvus_source, id="milvus", marks=ON_A_SERVER),
        pytest.param(milvus_lite_source, id="milvus-lite"),
        pytest.param(pgvector_source, id="pgvector", marks=ON_A_SERVER),
        pytest.param(lancedb_source, id="lancedb"),
        pytest.param(qdrant_edge_source, id="qdrant-edge"),
    ],
)
def test_same_items_and_scores_as_numpy(make, tutorial, reference, request):
    results = run(make(tutorial, request), tutorial)
    assert [r["id"] for r in results] == [r["id"] for r in reference]
    assert [r["item"] for r in results] == [r["item"] for r in reference]
    assert [r["score"] for r in results] == pytest.approx([r["score"] for r in reference], rel=1e-9)
    assert len(reference) > 100  # the climb scored a real neighbourhood, not a handful
