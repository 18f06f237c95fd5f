"""Retrieve many, score few: the acquisition step, candidates, and the guided strategy's modes."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_cases import FACTORIES, search

from emb_opt.errors import SearchAborted
from emb_opt.log import NOT_CHOSEN, item_key
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.update import GuidedUpdate, RLUpdate
from emb_opt.update.memory import ScoredMemory
from emb_opt.utils import build_batch_from_items

GUIDED = ["guided_pool", "guided_neighbourhood", "restarts_guided"]


class RecordingScore(TargetScore):
    """The seed objective, keeping the embedding of every item it scored."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[bytes] = set()

    def __call__(self, items):
        self.seen.update(np.asarray(i.embedding, dtype=np.float64).tobytes() for i in items)
        return super().__call__(items)


class NoScan:
    """The source's kNN search and sampling, without `scan` or `count`."""

    def __init__(self, source) -> None:
        self.source, self.dimension = source, source.dimension

    def __call__(self, queries):
        return self.source(queries)

    def sample(self, n, seed=None):
        return self.source.sample(n, seed=seed)


class FirstN:
    """A separate acquisition plugin: the first `n` fresh items, else the oldest candidates."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.handed: list = []

    def acquire(self, fresh, budget):
        self.handed += [item.score for item in fresh]
        return fresh[: self.n]


def guided_search(source, name, score=None, budget=150):
    update = FACTORIES[name](source, 0)
    return update, search(source, update, budget=budget, iterations=40, score=score)


@pytest.mark.parametrize("name", GUIDED)
def test_acquisition_never_sees_a_score(source, name, monkeypatch):
    handed: list = []
    original = GuidedUpdate.acquire

    def spy(self, fresh, budget):  # scores as they are when handed (chosen ones get scored)
        handed.extend(item.score for item in [*fresh, *self.context.candidates.values()])
        return original(self, fresh, budget)

    monkeypatch.setattr(GuidedUpdate, "acquire", spy)
    guided_search(source, name)
    assert handed
    assert all(score is None for score in handed)


@pytest.mark.parametrize("name", GUIDED)
def test_memory_holds_only_items_the_score_function_scored(source, name):
    score = RecordingScore()
    update, log = guided_search(source, name, score=score)
    memories = [m for m in vars(update.context).values() if isinstance(m, ScoredMemory)]
    assert memories and len(memories[0]) == log.counters.score_calls
    assert {row.tobytes() for row in memories[0].embeddings} <= score.seen


@pytest.mark.parametrize("name", GUIDED)
def test_candidates_are_kept_apart_from_results(source, name):
    _, log = guided_search(source, name)
    scored = {r["id"] for r in log.compile_results()}
    assert log.candidates and scored
    assert not scored & {item.id for item in log.candidates.values()}
    assert all(item.score is None for item in log.candidates.values())
    assert len(scored) == log.counters.score_calls  # every result was scored, nothing else


def test_a_separate_acquisition_plugin_chooses_what_is_scored(source):
    acquisition = FirstN(3)
    runner = Runner(source, None, TargetScore(), None, RLUpdate(lrs=[0.5]), acquisition=acquisition)
    start = build_batch_from_items(source.sample(4, seed=1))
    _, log = runner.search(start, 5, verbose=False)
    assert 0 < log.counters.score_calls <= 3 * 5
    assert acquisition.handed and all(score is None for score in acquisition.handed)
    unchosen = [
        item
        for batch in log.batches
        for query in batch.queries
        for item in query.query_results
        if item.internal.removal_reason == NOT_CHOSEN
    ]
    assert unchosen
    for item in unchosen:  # a candidate until scored, then a result (never both)
        key = item_key(item)
        assert (key in log.candidates) != (key in log.items)
        assert key in log.items or key not in log.score_cache


@pytest.mark.parametrize(
    ("chooser", "message"),
    [
        (lambda fresh, budget: fresh[:1] * 2, "chose an item twice"),
        (lambda fresh, budget: "all", "must return a list of Items"),
        (lambda fresh, budget: fresh, "with a budget of 2"),
    ],
)
def test_a_bad_acquisition_is_a_clear_error(source, chooser, message):
    acquisition = FirstN(0)
    acquisition.acquire = chooser  # type: ignore[method-assign]
    runner = Runner(source, None, TargetScore(), None, RLUpdate(lrs=[0.5]), acquisition=acquisition)
    start = build_batch_from_items(source.sample(4, seed=1))
    with pytest.raises(SearchAborted, match=message):
        runner.search(start, 3, verbose=False, stop=StopRule(max_score_calls=2))


def test_an_earlier_candidate_can_be_chosen_later_without_a_database_call(source):
    class Later:
        """Scores one fresh item at first; then one it was handed before and left unchosen."""

        def __init__(self) -> None:
            self.left: list = []
            self.picked = None

        def acquire(self, fresh, budget):
            if self.picked is None:
                self.left = fresh[1:]
                self.picked = fresh[0]
                return fresh[:1]
            keys = {item_key(item) for item in fresh}
            self.picked = next(i for i in self.left if item_key(i) not in keys)
            return [self.picked]

    acquisition = Later()
    runner = Runner(source, None, TargetScore(), None, RLUpdate(lrs=[0.5]), acquisition=acquisition)
    _, log = runner.search(build_batch_from_items(source.sample(3, seed=2)), 2, verbose=False)
    late = item_key(acquisition.picked)
    assert [item_key(item) for item in log.batches[1].acquired] == [late]
    assert log.items[late].score is not None and late not in log.candidates
    assert log.counters.data_source_calls == 2  # one per iteration: nothing fetched again
    assert log.candidates  # the other unchosen items stay available


@pytest.mark.parametrize(("budget", "mode"), [(1e9, "pool"), (1e-9, "neighbourhood")])
def test_auto_mode_follows_the_cost_of_a_pool_round(source, budget, mode, monkeypatch):
    scans: list[int] = []
    scan = source.scan

    def counted(batch_size, **read):
        for part in scan(batch_size, **read):
            scans.append(len(part.ids))
            yield part

    monkeypatch.setattr(source, "scan", counted)
    update = GuidedUpdate(batch=20, initial=30, features=64, round_seconds=budget)
    log = search(source, update, budget=80, iterations=20)
    assert update.mode_used == mode
    assert update.pool_estimate is not None and update.pool_estimate.items == source.count()
    assert (update.pool_estimate.seconds <= budget) == (mode == "pool")
    measured = [source.count()]  # the estimate read the one scan batch of 3,000 items
    assert scans[:1] == measured and (scans[1:] != []) == (mode == "pool")
    assert log.counters.data_source_calls >= log.counters.iterations + len(scans)


def test_auto_mode_is_neighbourhood_when_the_source_cannot_scan(source):
    update = GuidedUpdate(batch=20, initial=30, features=64, round_seconds=1e9)
    search(NoScan(source), update, budget=80, iterations=20)
    assert update.mode_used == "neighbourhood" and update.pool_estimate is None


def test_pool_mode_finds_more_of_the_top_than_random(source, truth):
    update = FACTORIES["guided_pool"](source, 0)
    log = search(source, update, budget=200, iterations=40)
    top = set(truth[:20].tolist())
    found = {item.id for item in log.items.values() if item.score is not None}
    assert len(found & top) >= 10  # random 200 of 3,000 would find about 1.3


@pytest.mark.parametrize(
    "kwargs",
    [{"batch": 0}, {"mode": "everything"}, {"acquisition": "best"}, {"beta": -1}],
)
def test_bad_guided_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        GuidedUpdate(**kwargs)


@pytest.mark.parametrize("mode", ["pool", "neighbourhood"])
def test_without_diversity_a_batch_still_holds_each_item_once(source, mode):
    update = GuidedUpdate(batch=20, initial=30, features=64, diversity=0, mode=mode, sample=500)
    log = search(source, update, budget=150, iterations=20)
    assert log.counters.score_calls == 150
