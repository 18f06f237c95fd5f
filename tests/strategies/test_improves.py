"""Every strategy climbs: its best score rises above what its start found."""

from __future__ import annotations

import pytest
from strategy_cases import FACTORIES, NEW_STRATEGIES, search


@pytest.mark.parametrize("name", NEW_STRATEGIES)
def test_improves_over_its_start(source, name):
    log = search(source, FACTORIES[name](source, 0), iterations=15)
    start, end = log.history[0]["best_score"], log.history[-1]["best_score"]
    assert end > start


@pytest.mark.parametrize("name", ["surrogate", "line_search", "restarts"])
def test_finds_the_true_best_item_with_a_sliver_of_the_corpus(source, truth, name):
    log = search(source, FACTORIES[name](source, 0), iterations=60, budget=300)
    assert log.best().id == int(truth[0])
    assert log.counters.score_calls <= 300  # 10% of the corpus
