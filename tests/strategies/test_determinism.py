"""A seeded strategy repeats its search exactly; another seed searches elsewhere."""

from __future__ import annotations

import pytest
from strategy_cases import FACTORIES, NEW_STRATEGIES, search


def trace(log) -> list[bytes]:
    return [query.embedding.tobytes() for batch in log.batches for query in batch.queries]


@pytest.mark.parametrize("name", NEW_STRATEGIES)
def test_same_seed_same_search(source, name):
    first = search(source, FACTORIES[name](source, 3), iterations=8)
    second = search(source, FACTORIES[name](source, 3), iterations=8)
    assert trace(first) == trace(second)
    assert [r["id"] for r in first.compile_results()] == [r["id"] for r in second.compile_results()]
    assert first.counters.score_calls == second.counters.score_calls


@pytest.mark.parametrize("name", ["evolution", "surrogate", "restarts"])
def test_other_seed_other_search(source, name):
    first = search(source, FACTORIES[name](source, 3), iterations=6)
    second = search(source, FACTORIES[name](source, 4), iterations=6)
    assert trace(first) != trace(second)
