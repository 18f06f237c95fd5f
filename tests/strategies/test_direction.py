"""direction="minimize": a minimize search of -f makes exactly the choices a maximize search of
f makes, shows scores in their own units (best = lowest), and stops on a target in them."""

from __future__ import annotations

from pathlib import Path

import pytest
from strategy_cases import FACTORIES

from emb_opt.asktell import AskTell
from emb_opt.log import load_log, save_log
from emb_opt.objectives import TargetScore
from emb_opt.prune import TopKPrune
from emb_opt.runner import Runner
from emb_opt.schemas import Item, ScoreResponse
from emb_opt.stopping import StopRule
from emb_opt.update import TopKContinuousUpdate, TopKDiscreteUpdate
from emb_opt.utils import build_batch_from_items

CASES = {
    **{name: (factory, None) for name, factory in FACTORIES.items()},
    "topk_discrete_pruned": (lambda s, seed: TopKDiscreteUpdate(k=4), TopKPrune(k=2)),
    "topk_weighted": (lambda s, seed: TopKContinuousUpdate(k=3, score_weighted=True), None),
}


class Recorded:
    """TargetScore times `sign`, remembering the ids of every item it scored, in order."""

    def __init__(self, sign: float) -> None:
        self.sign, self.ids, self.inner = sign, [], TargetScore()

    def __call__(self, items):
        self.ids += [item.id for item in items]
        return [ScoreResponse(valid=True, score=self.sign * r.score) for r in self.inner(items)]


def search(source, name, direction, sign, stop=None, iterations=10):
    factory, prune = CASES[name]
    score = Recorded(sign)
    runner = Runner(source, None, score, prune, factory(source, 3), direction=direction)
    batch = build_batch_from_items(source.sample(4, seed=101))
    _, log = runner.search(batch, iterations, verbose=False, stop=stop)
    return score.ids, log


@pytest.mark.parametrize("name", list(CASES))
def test_minimizing_the_negated_score_makes_the_same_choices(source, name):
    ids_max, log_max = search(source, name, "maximize", 1.0)
    ids_min, log_min = search(source, name, "minimize", -1.0)
    assert ids_min == ids_max
    assert log_min.counters == log_max.counters
    results_max, results_min = log_max.compile_results(), log_min.compile_results()
    assert [r["id"] for r in results_min] == [r["id"] for r in results_max]
    for low, high in zip(results_min, results_max):
        assert low["score"] == pytest.approx(-high["score"])
    scores = [r["score"] for r in results_min]
    assert scores == sorted(scores)  # lowest (best) first
    assert log_min.best().score == scores[0]
    assert [h["best_score"] for h in log_min.history] == pytest.approx(
        [-h["best_score"] for h in log_max.history]
    )


def test_target_score_is_in_the_scores_units(source, truth, small_corpus):
    from emb_opt.objectives import target_distance_score

    target = -float(target_distance_score(small_corpus.embeddings[truth[40:41]])[0])
    _, log = search(
        source, "surrogate", "minimize", -1.0, StopRule(target_score=target), iterations=100
    )
    assert log.best().score <= target
    reached = [h["best_score"] <= target for h in log.history]
    assert reached.index(True) == len(log.history) - 1


def test_patience_counts_lower_scores_as_better(source):
    _, log_max = search(source, "surrogate", "maximize", 1.0, StopRule(patience=2), 60)
    _, log_min = search(source, "surrogate", "minimize", -1.0, StopRule(patience=2), 60)
    assert log_min.counters.iterations == log_max.counters.iterations < 60


def test_the_direction_survives_a_saved_log_and_resume(source, tmp_path):
    _, log = search(source, "surrogate", "minimize", -1.0, iterations=3)
    save_log(log, tmp_path / "log")
    loaded = load_log(tmp_path / "log")
    assert loaded.direction.name == "minimize"
    assert loaded.best().score == log.best().score
    assert [r["id"] for r in loaded.compile_results()] == [r["id"] for r in log.compile_results()]


def test_a_resumed_search_goes_the_way_its_log_does(source, tmp_path):
    """The log owns the direction: a runner given a minimizing log minimizes, whatever it
    would start a new log with, and ends as the uninterrupted search does."""
    straight_ids, straight = search(source, "surrogate", "minimize", -1.0, iterations=5)
    first_ids, first = search(source, "surrogate", "minimize", -1.0, iterations=3)
    save_log(first, tmp_path / "log")
    score = Recorded(-1.0)
    runner = Runner(source, None, score, None, FACTORIES["surrogate"](source, 3))
    _, resumed = runner.search(None, 2, log=load_log(tmp_path / "log"), verbose=False)
    assert runner.new_log().direction.name == "maximize"  # no direction given
    assert resumed.direction.name == "minimize"
    assert first_ids + score.ids == straight_ids
    assert [r["id"] for r in resumed.compile_results()] == [
        r["id"] for r in straight.compile_results()
    ]
    surrogate = FACTORIES["surrogate"](source, 3)
    asking = AskTell(Runner(source, update_function=surrogate), log=load_log(tmp_path / "log"))
    assert asking.log.direction.name == "minimize"


def test_a_log_written_before_directions_existed_loads_as_maximize():
    old = load_log(Path(__file__).parents[1] / "cli" / "data" / "version1" / "out" / "log.json")
    assert old.direction.name == "maximize"
    scores = [row["score"] for row in old.compile_results()]
    assert scores and scores == sorted(scores, reverse=True)
    assert old.best().score == scores[0]


def test_ask_tell_minimizes_through_its_runner(source):
    ids_max, log_max = search(source, "guided_neighbourhood", "maximize", 1.0, iterations=4)
    factory, _ = CASES["guided_neighbourhood"]
    runner = Runner(source, None, Recorded(-1.0), None, factory(source, 3), direction="minimize")
    session = AskTell(runner, build_batch_from_items(source.sample(4, seed=101)), iterations=4)
    told = Recorded(-1.0)
    while asked := session.ask():
        items = [Item(id=int(a.id), embedding=a.embedding) for a in asked]
        session.tell([a.id for a in asked], [r.score for r in told(items)])
    assert told.ids == ids_max
    assert [r["id"] for r in session.log.compile_results()] == [
        r["id"] for r in log_max.compile_results()
    ]
