"""Shared fixtures: small seeded corpora and in-process sources."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(scope="session")
def corpus():
    from emb_opt.synthetic import random_corpus

    return random_corpus(2000, 16, seed=7)


@pytest.fixture
def numpy_source(corpus):
    from emb_opt.adapters.numpy import NumpyDataSource

    return NumpyDataSource(corpus.embeddings, k=5, items=corpus.items, metadata=corpus.metadata)


@pytest.fixture
def start_batch(corpus):
    from emb_opt.utils import build_batch_from_embeddings

    return build_batch_from_embeddings(np.random.default_rng(3).standard_normal((4, 16)))
