"""Strategies see only what they asked for: the scored results of their own queries."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from strategy_cases import FACTORIES, search

from emb_opt.objectives import TargetScore, target_distance_score
from emb_opt.update import Strategy
from emb_opt.update.memory import ScoredMemory


class RecordingSource:
    """Wraps the data source and remembers which ids each query embedding got back."""

    def __init__(self, source) -> None:
        self.source = source
        self.returned: dict[bytes, set] = {}

    @property
    def dimension(self) -> int:
        return self.source.dimension

    def sample(self, n: int, seed: int | None = None):
        return self.source.sample(n, seed=seed)

    def scan(self, batch_size: int = 8192):
        return self.source.scan(batch_size)

    def count(self) -> int:
        return self.source.count()

    def __call__(self, queries):
        responses = self.source(queries)
        for query, response in zip(queries, responses):
            ids = {item.id for item in response.query_results}
            self.returned.setdefault(query.embedding.tobytes(), set()).update(ids)
        return responses


class Spy(Strategy):
    """Wraps a strategy and keeps a copy of everything it is handed."""

    def __init__(self, update) -> None:
        self.update = update
        self.received: list = []

    def __call__(self, queries):
        self.received.append(copy.deepcopy(queries))
        return self.update(queries)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_strategy_receives_only_its_own_scored_results(source, name):
    recording = RecordingSource(source)
    spy = Spy(FACTORIES[name](source, 0))
    objective = TargetScore()
    search(recording, spy, iterations=8, budget=120, score=objective)
    assert spy.received
    for queries in spy.received:
        for query in queries:
            asked = recording.returned[query.embedding.tobytes()]
            for item in query.query_results:
                assert item.id in asked  # nothing it did not retrieve itself
                if item.score is not None:  # and its true score, nothing more
                    expected = target_distance_score(item.embedding[None])[0]
                    assert item.score == pytest.approx(expected)
                    assert not item.internal.removed


def _reachable(root, depth: int = 6, skip: tuple[str, ...] = ()) -> list:
    """Objects reachable from `root` through attributes and containers (names in `skip` aside)."""
    seen: dict[int, object] = {}
    frontier = [root]
    for _ in range(depth):
        following: list = []
        for obj in frontier:
            if id(obj) in seen:
                continue
            seen[id(obj)] = obj
            if isinstance(obj, dict):
                following += list(obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                following += list(obj)
            elif hasattr(obj, "__dict__") and not isinstance(obj, type):
                following += [v for k, v in vars(obj).items() if k not in skip]
        frontier = following
    return list(seen.values())


@pytest.mark.parametrize("name", list(FACTORIES))
def test_strategy_reaches_no_objective_and_the_database_only_through_its_context(
    source, small_corpus, name
):
    update = FACTORIES[name](source, 0)
    objective = TargetScore()
    search(source, update, iterations=6, score=objective)
    assert id(objective) not in {id(obj) for obj in _reachable(update, depth=12)}
    database = {id(source), id(source.index), id(small_corpus.embeddings)}
    assert not database & {id(obj) for obj in _reachable(update, skip=("_source",))}


@pytest.mark.parametrize("name", ["line_search", "evolution", "surrogate", "restarts"])
def test_memory_holds_only_received_items(source, name):
    spy = Spy(FACTORIES[name](source, 0))
    search(source, spy, iterations=8)
    received = {
        np.asarray(item.embedding, dtype=np.float64).tobytes()
        for queries in spy.received
        for query in queries
        for item in query.query_results
        if item.score is not None
    }
    memories = [m for m in _reachable(spy.update, skip=("_source",)) if isinstance(m, ScoredMemory)]
    assert memories
    for memory in memories:
        assert {row.tobytes() for row in memory.embeddings} <= received
        assert np.isfinite(memory.scores).all()
