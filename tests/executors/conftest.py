"""Executor fixtures: items to score (Ray and the scoring service are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from emb_opt.schemas import Item
from emb_opt.synthetic import random_corpus


@pytest.fixture(scope="session")
def items() -> list[Item]:
    """40 items with ids, float32 embeddings and a `rand` metadata field."""
    corpus = random_corpus(40, 8, seed=11)
    return [
        Item(id=index, item=text, embedding=embedding, data=metadata)
        for index, (text, embedding, metadata) in enumerate(
            zip(corpus.items, corpus.embeddings, corpus.metadata)
        )
    ]
