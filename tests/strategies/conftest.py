"""A small seeded FAISS corpus for the strategy tests."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.objectives import target_distance_score
from emb_opt.synthetic import random_corpus

faiss = pytest.importorskip("faiss")
pytest.importorskip("sklearn", reason="the model-based strategies need emb-opt[strategies]")


@pytest.fixture(scope="session")
def small_corpus():
    return random_corpus(3000, 16, seed=11)


@pytest.fixture
def source(small_corpus):
    from emb_opt.adapters.faiss import FaissDataSource

    index = faiss.IndexFlatL2(16)
    index.add(small_corpus.embeddings)
    return FaissDataSource(
        index, k=5, metadata=small_corpus.metadata, embeddings=small_corpus.embeddings
    )


@pytest.fixture(scope="session")
def truth(small_corpus) -> np.ndarray:
    """Row ids of the corpus, best first under the seed objective."""
    return np.argsort(-target_distance_score(small_corpus.embeddings), kind="stable")
