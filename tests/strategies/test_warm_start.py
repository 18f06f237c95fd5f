"""Scores known before the search: never scored again, fed to the strategy, free of budget."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_cases import FACTORIES

from emb_opt.asktell import AskTell
from emb_opt.log import SearchLog, item_key, load_log, save_log
from emb_opt.objectives import TargetScore, target_distance_score
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.update import GuidedUpdate
from emb_opt.utils import build_batch_from_items


class Recorded(TargetScore):
    """The tutorial objective, remembering the ids of the items it scored."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list = []

    def __call__(self, items):
        self.ids += [item.id for item in items]
        return super().__call__(items)


class Watched(GuidedUpdate):
    """GuidedUpdate remembering the keys its model was fitted to in its first round."""

    first_memory: list[str] | None = None

    def acquire(self, fresh, budget):
        if self.first_memory is None:
            self.first_memory = self.context.memory.keys()
        return super().acquire(fresh, budget)


def known_pairs(source, n=40):
    items = source.fetch(list(range(0, 3 * n, 3)))
    scores = target_distance_score(np.stack([item.embedding for item in items]))
    return [(item, float(score)) for item, score in zip(items, scores)]


def test_known_items_are_never_scored_and_feed_the_model(source):
    known = known_pairs(source)
    score, update = Recorded(), Watched(batch=10, queries=4, initial=30, seed=1)
    runner = Runner(source, None, score, None, update)
    batch = build_batch_from_items(source.sample(4, seed=5))
    _, log = runner.search(batch, 6, verbose=False, stop=StopRule(max_score_calls=50), known=known)
    known_ids = {item.id for item, _ in known}
    assert not known_ids & set(score.ids)
    assert set(update.first_memory) == {item_key(item) for item, _ in known}
    assert log.counters.score_calls == len(score.ids) == 50
    assert log.counters.known_scores == 40
    rows = {row["id"]: row for row in log.compile_results()}
    for item, value in known:
        assert rows[item.id]["source"] == "known" and rows[item.id]["iteration"] == -1
        assert rows[item.id]["score"] == pytest.approx(value)
    assert {row["source"] for row in rows.values()} == {"known", "search"}


def test_known_scores_spend_the_budget_when_counted(source):
    score = Recorded()
    runner = Runner(source, None, score, None, FACTORIES["surrogate"](source, 0))
    batch = build_batch_from_items(source.sample(4, seed=5))
    stop = StopRule(max_score_calls=50, count_known=True)
    _, log = runner.search(batch, 30, verbose=False, stop=stop, known=known_pairs(source))
    assert log.counters.score_calls == len(score.ids) == 10


def test_a_trajectory_strategy_reuses_the_known_scores_it_retrieves(source):
    start = source.sample(4, seed=5)
    score = Recorded()
    runner = Runner(source, None, score, None, FACTORIES["surrogate"](source, 0))
    neighbours = source([build_batch_from_items(start).queries[0]])[0].query_results
    known = [(item, -1.0) for item in neighbours]  # the first query's own results
    _, log = runner.search(build_batch_from_items(start), 3, verbose=False, known=known)
    assert not {item.id for item in neighbours} & set(score.ids)
    first = log.batches[0].nodes[0].results()
    assert [item.score for item in first] == [-1.0] * len(neighbours)


def test_ask_tell_never_asks_for_known_items_and_resumes_with_them(source, tmp_path):
    known = known_pairs(source)
    runner = Runner(source, None, TargetScore(), None, GuidedUpdate(batch=8, initial=30, seed=1))
    session = AskTell(runner, build_batch_from_items(source.sample(4, seed=5)), known=known)
    asked = session.ask()
    assert asked and not {a.id for a in asked} & {str(item.id) for item, _ in known}
    save_log(session.log, tmp_path / "log")
    loaded = load_log(tmp_path / "log")
    assert loaded.counters.known_scores == 40
    assert sum(row["source"] == "known" for row in loaded.compile_results()) == 40


def test_an_item_known_twice_is_one_item_with_the_mean_score(source):
    item, score = known_pairs(source, 1)[0]
    log = SearchLog()
    log.add_known(item, score)
    log.add_known(item, score + 1.0)
    assert log.counters.known_scores == 1 and len(log.items) == 1
    assert log.best().score == pytest.approx(score + 0.5)
