"""NumPy, FAISS and HF Datasets pass the shared conformance suite."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters.faiss import FaissDataSource, import_faiss
from emb_opt.adapters.huggingface import HuggingFaceDataSource
from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.testing import DataSourceConformance

CACHED = "an in-process source reads its fields from cached columns, not payloads"


class TestNumpyConformance(DataSourceConformance):
    whole_payloads = CACHED

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls):
        def load(corpus):
            def make(k, filter=None, distance_cutoff=None):
                return NumpyDataSource(
                    corpus.embeddings,
                    k=k,
                    ids=corpus.ids,
                    metadata=corpus.metadata,
                    filter=filter,
                    distance_cutoff=distance_cutoff,
                )

            return make

        return load


class TestFaissFlatConformance(DataSourceConformance):
    index_factory = "Flat"
    whole_payloads = CACHED

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls):
        def load(corpus):
            faiss = import_faiss()
            index = faiss.index_factory(corpus.dimension, cls.index_factory)
            index.train(corpus.embeddings)
            index.add(corpus.embeddings)
            if hasattr(index, "hnsw"):
                index.hnsw.efSearch = 512  # unfiltered HNSW is approximate; make it exact here

            def make(k, filter=None, distance_cutoff=None):
                return FaissDataSource(
                    index,
                    k=k,
                    ids=corpus.ids,
                    metadata=corpus.metadata,
                    embeddings=corpus.embeddings,
                    filter=filter,
                    distance_cutoff=distance_cutoff,
                )

            return make

        return load


class TestFaissHNSWConformance(TestFaissFlatConformance):
    """An approximate index: filtered searches must still be exact."""

    index_factory = "HNSW8"


class TestHuggingFaceConformance(DataSourceConformance):
    whole_payloads = CACHED

    @pytest.fixture(scope="class")
    @classmethod
    def load_source(cls):
        from datasets import Dataset

        def load(corpus):
            columns = {"id": corpus.ids, "embedding": list(corpus.embeddings)}
            for key in sorted({key for row in corpus.metadata for key in row}):
                columns[key] = [row.get(key) for row in corpus.metadata]
            dataset = Dataset.from_dict(columns)
            dataset.add_faiss_index("embedding")

            def make(k, filter=None, distance_cutoff=None):
                return HuggingFaceDataSource(
                    dataset,
                    "embedding",
                    k=k,
                    id_key="id",
                    filter=filter,
                    distance_cutoff=distance_cutoff,
                )

            return make

        return load


def test_faiss_index_without_selector_support_is_a_clear_error(conformance_small):
    from emb_opt.errors import UnsupportedFilterError
    from emb_opt.schemas import Query

    faiss = import_faiss()
    embeddings, metadata = conformance_small
    index = faiss.IndexPQ(embeddings.shape[1], 2, 4)
    index.train(embeddings)
    index.add(embeddings)
    selective = FaissDataSource(index, k=3, metadata=metadata, filter={"n": 1})
    (response,) = selective([Query(embedding=embeddings[0])])  # few rows match: exact subset
    assert len(response.query_results) == 3
    assert all(item.data["n"] == 1 for item in response.query_results)
    source = FaissDataSource(index, k=3, metadata=metadata, filter={"n": 1}, exact_below=0)
    with pytest.raises(UnsupportedFilterError, match="IndexPQ does not support filtered search"):
        source([Query(embedding=embeddings[0])])


@pytest.fixture
def conformance_small():
    from emb_opt.testing import conformance_corpus

    corpus = conformance_corpus(300)
    return np.ascontiguousarray(corpus.embeddings), corpus.metadata
