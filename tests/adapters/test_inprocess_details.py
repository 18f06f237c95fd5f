"""Details of the in-process adapters beyond the conformance suite: metrics, fetch, protocol."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters import DataSource
from emb_opt.adapters.faiss import FaissDataSource, import_faiss
from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.schemas import Query


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).standard_normal((500, 12)).astype(np.float32)


@pytest.mark.parametrize(
    ("metric", "distance"),
    [
        ("l2", lambda x, q: np.linalg.norm(x - q, axis=1)),
        ("cosine", lambda x, q: 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))),
        ("ip", lambda x, q: -(x @ q)),
    ],
)
def test_numpy_metrics_rank_by_smaller_is_closer(vectors, metric, distance):
    query = np.random.default_rng(1).standard_normal(12)
    (response,) = NumpyDataSource(vectors, k=7, metric=metric)([Query(embedding=query)])
    expected = distance(vectors.astype(np.float64), query)
    order = np.argsort(expected)[:7]
    assert [item.id for item in response.query_results] == order.tolist()
    got = [item.internal.distance for item in response.query_results]
    assert got == pytest.approx(expected[order], rel=1e-4, abs=1e-4)
    assert response.data == {"metric": metric}


def test_faiss_inner_product_index_reports_minus_the_product(vectors):
    faiss = import_faiss()
    index = faiss.IndexFlatIP(12)
    index.add(vectors)
    query = vectors[3] * 2
    (response,) = FaissDataSource(index, k=3)([Query(embedding=query)])
    assert response.data == {"metric": "ip"}
    first = response.query_results[0]
    assert first.internal.distance == pytest.approx(-float(vectors[first.id] @ query), rel=1e-5)


def test_adapters_satisfy_the_protocol_and_fetch_by_id(vectors):
    source = NumpyDataSource(vectors, k=3, ids=[f"item-{i}" for i in range(500)])
    assert isinstance(source, DataSource)
    items = source.fetch(["item-7", "item-2"])
    assert [i.id for i in items] == ["item-7", "item-2"]
    assert np.array_equal(items[0].embedding, vectors[7])
    with pytest.raises(ValueError, match=r"unknown ids \['nope'\]"):
        source.fetch(["nope"])


def test_bad_construction_arguments_are_named(vectors):
    with pytest.raises(ValueError, match="metric must be one of l2, cosine, ip, got 'manhattan'"):
        NumpyDataSource(vectors, metric="manhattan")
    with pytest.raises(ValueError, match="ids has 3 entries but the index holds 500 vectors"):
        NumpyDataSource(vectors, ids=[1, 2, 3])
    with pytest.raises(ValueError, match="distance_cutoff must be a finite number"):
        NumpyDataSource(vectors, distance_cutoff=float("nan"))
