"""QdrantEdgeDataSource on Qdrant Edge: Qdrant's real engine, in process, in a tmp dir.

The Qdrant filter compiler runs here against the real engine (qdrant-client's local mode
is an emulation), with and without payload indexes, and on an HNSW index.
"""

from __future__ import annotations

import numpy as np
import pytest
import qdrant_edge as qe
from engines import (
    check_numeric_filters,
    check_parts_cover_the_scan,
    mixed_point_ids,
    numeric_corpus,
)

from emb_opt.adapters.qdrant_edge import QdrantEdgeDataSource, create_shard
from emb_opt.schemas import Query
from emb_opt.testing import DataSourceConformance, NameConformance, conformance_corpus


def shard_factory(path, corpus, **options):
    """(shard, make): a new shard holding `corpus`, and a source factory over it."""
    shard = create_shard(path, corpus.embeddings, corpus.metadata, corpus.ids, **options)

    def make(k, filter=None, distance_cutoff=None):
        return QdrantEdgeDataSource(
            shard, k=k, filter=filter, distance_cutoff=distance_cutoff, config=path
        )

    return shard, make


class TestQdrantEdgeConformance(DataSourceConformance):
    """Payload indexes on every field (what `create_shard` makes)."""

    payload_indexes = True
    property_examples = 150  # in process and fast: more random filter trees

    string_ids = "uuid"

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls, tmp_path_factory):
        shards = []

        def load(corpus):
            path = tmp_path_factory.mktemp("edge") / "shard"
            shard, make = shard_factory(path, corpus, payload_indexes=cls.payload_indexes)
            shards.append(shard)
            return make

        yield load
        for shard in shards:
            shard.close()


class TestQdrantEdgeUnindexedConformance(TestQdrantEdgeConformance):
    """No payload index: Edge evaluates every condition on the stored payloads."""

    payload_indexes = False


@pytest.mark.parametrize("payload_indexes", [True, False])
def test_ints_and_floats_in_one_field_filter_exactly(tmp_path, payload_indexes):
    corpus = numeric_corpus()
    shard, make = shard_factory(tmp_path / "s", corpus, payload_indexes=payload_indexes)
    try:
        check_numeric_filters(make, corpus, frozenset())
    finally:
        shard.close()


def test_true_is_not_one_on_the_engine(tmp_path):
    """qdrant-edge-py reads a Python True as the integer 1; the compiler sends a real bool."""
    vectors = np.eye(4, dtype=np.float32)
    metadata = [{"x": True}, {"x": 1}, {"x": 1.0}, {"x": False}]
    shard, make = shard_factory(tmp_path / "s", conformance_like(vectors, metadata))
    try:
        query = [Query(embedding=np.zeros(4))]
        assert {i.id for i in make(k=4, filter={"x": True})(query)[0].query_results} == {0}
        assert {i.id for i in make(k=4, filter={"x": 1})(query)[0].query_results} == {1, 2}
    finally:
        shard.close()


def conformance_like(vectors, metadata):
    from emb_opt.testing import ConformanceCorpus

    return ConformanceCorpus(vectors, list(range(len(vectors))), metadata)


def test_selective_filters_fill_k_on_an_hnsw_index(tmp_path):
    corpus = conformance_corpus(n=5000, dimension=16)
    config = qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=16, distance=qe.Distance.Euclid),
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=10),
        hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=64, full_scan_threshold=10),
    )
    shard = qe.EdgeShard.create(str(tmp_path / "hnsw"), config)
    try:
        shard.update(qe.UpdateOperation.create_field_index("bucket", qe.PayloadSchemaType.Float))
        points = [
            qe.Point(i, corpus.embeddings[i].tolist(), corpus.metadata[i]) for i in corpus.ids
        ]
        shard.update(qe.UpdateOperation.upsert_points(points))
        shard.optimize()
        assert shard.info().indexed_vectors_count == len(corpus.ids)
        queries = [Query(embedding=e) for e in corpus.embeddings[:4]]
        for flt, matching in (({"bucket": 7}, 5), ({"bucket": {"$lt": 3}}, 15)):
            source = QdrantEdgeDataSource(shard, k=10, filter=flt, config=config)
            assert [len(r.query_results) for r in source(queries)] == [min(10, matching)] * 4
            assert source.count() == matching
    finally:
        shard.close()


def test_named_vector_item_key_and_cosine(tmp_path):
    vectors = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    config = qe.EdgeConfig(
        vectors={"dense": qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine)}
    )
    shard = qe.EdgeShard.create(str(tmp_path / "named"), config)
    try:
        points = [
            qe.Point(i, {"dense": v.tolist()}, {"n": i, "item": f"item-{i}"})
            for i, v in enumerate(vectors)
        ]
        shard.update(qe.UpdateOperation.upsert_points(points))
        source = QdrantEdgeDataSource(
            shard, k=3, item_key="item", filter={"n": {"$lt": 25}}, config=config
        )
        assert (source.vector_name, source.metric, source.dimension) == ("dense", "cosine", 4)
        (response,) = source([Query(embedding=vectors[3])])
        top = response.query_results[0]
        assert (top.id, top.item, top.data) == (3, "item-3", {"n": 3})
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        expected = np.sort(1 - unit[:25] @ unit[3])[:3]
        assert [i.internal.distance for i in response.query_results] == pytest.approx(
            expected, abs=1e-5
        )
        (batch,) = source.scan(100)
        assert (batch.ids[:2], batch.items[:2], batch.metadata[:2]) == (
            [0, 1],
            ["item-0", "item-1"],
            [{"n": 0}, {"n": 1}],
        )
    finally:
        shard.close()


def test_dot_metric_distance_is_minus_the_product(tmp_path):
    vectors = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    shard = create_shard(tmp_path / "dot", vectors, metric="ip")
    try:
        source = QdrantEdgeDataSource(shard, k=5, config=tmp_path / "dot")
        (response,) = source([Query(embedding=vectors[0])])
        products = np.sort(-(vectors @ vectors[0]))[:5]
        distances = [i.internal.distance for i in response.query_results]
        assert distances == pytest.approx(products, rel=1e-5)
    finally:
        shard.close()


def test_a_directory_is_opened_and_closed_by_the_source(tmp_path):
    create_shard(tmp_path / "s", np.eye(3, dtype=np.float32)).close()
    with QdrantEdgeDataSource(tmp_path / "s", k=1) as source:
        assert source.count() == 3
    with QdrantEdgeDataSource(tmp_path / "s", k=1) as source:  # the lock was released
        assert source.count() == 3


def test_an_open_shard_needs_its_config(tmp_path):
    shard = create_shard(tmp_path / "s", np.eye(3, dtype=np.float32))
    try:
        with pytest.raises(ValueError, match="pass config="):
            QdrantEdgeDataSource(shard)
        source = QdrantEdgeDataSource(shard, k=1, config=tmp_path / "s")
        source.close()
        assert shard.count(qe.CountRequest()) == 3  # the caller's shard stays open
    finally:
        shard.close()
    with pytest.raises(ValueError, match="no Qdrant Edge shard at"):
        QdrantEdgeDataSource(tmp_path / "absent")


def test_create_shard_refuses_to_overwrite_without_recreate(tmp_path):
    create_shard(tmp_path / "s", np.ones((2, 3))).close()
    with pytest.raises(ValueError, match="pass recreate=True"):
        create_shard(tmp_path / "s", np.ones((2, 3)))
    create_shard(tmp_path / "s", np.ones((3, 3)), recreate=True).close()
    with QdrantEdgeDataSource(tmp_path / "s") as source:
        assert source.count() == 3


class TestQdrantEdgeNames(NameConformance):
    refused_collections = ("../escape", ".hidden", "a/b")

    @pytest.fixture(scope="class")
    @classmethod
    def source_config(cls, tmp_path_factory):
        return {"backend": "qdrant-edge", "path": str(tmp_path_factory.mktemp("edge-names"))}


def test_parts_of_a_scan_over_uuid_and_integer_ids(tmp_path):
    """Edge hands UUIDs back as `uuid.UUID`; a part ends where the engine's order says."""
    corpus = conformance_corpus(300)
    ids = mixed_point_ids(300)
    shard = create_shard(tmp_path / "s", corpus.embeddings, corpus.metadata, ids)
    try:
        source = QdrantEdgeDataSource(
            shard, k=1, filter={"tag": {"$ne": "red"}}, config=tmp_path / "s"
        )
        check_parts_cover_the_scan(source)
    finally:
        shard.close()
