"""A score-call budget is never exceeded, whatever the strategy asks for."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_cases import FACTORIES, search

from emb_opt.log import UNSCORED
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.utils import build_batch_from_embeddings


class CountingScore(TargetScore):
    """The seed objective, counting every item it is asked to score."""

    def __init__(self) -> None:
        super().__init__()
        self.items = 0

    def __call__(self, items):
        self.items += len(items)
        return super().__call__(items)


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("budget", [7, 60, 150])
def test_budget_respected(source, name, budget):
    score = CountingScore()
    log = search(source, FACTORIES[name](source, 0), budget=budget, iterations=40, score=score)
    assert score.items == log.counters.score_calls <= budget
    if log.counters.score_calls == budget:  # spent: the search stopped right there
        assert log.history[-1]["score_calls"] == budget
        assert [r["score_calls"] for r in log.history].count(budget) == 1


def test_partial_budget_scores_every_querys_nearest_first(source, small_corpus):
    """With too little budget for all results, each query gets its nearest results scored."""
    rows = [5, 500, 1500]
    batch = build_batch_from_embeddings(small_corpus.embeddings[rows])
    runner = Runner(source, None, TargetScore(), None, FACTORIES["rl"](source, 0))
    _, log = runner.search(batch, 1, verbose=False, stop=StopRule(max_score_calls=3))
    scored = {item.id for item in log.items.values() if item.score is not None}
    assert scored == set(rows)  # each query's nearest result is the item it sits on
    retrieved = [item for query in log.batches[-1].queries for item in query.query_results]
    assert {i.id for i in retrieved if i.internal.removal_reason == UNSCORED} == {
        i.id for i in retrieved
    } - set(rows)
    assert log.unique_items == len(rows)  # the unscored ones are not results
    assert np.isfinite([i.score for i in log.items.values() if i.score is not None]).all()
