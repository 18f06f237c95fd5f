"""StopRule: a hard score-call budget, a target score, patience and idleness."""

from __future__ import annotations

import math

import pytest
from strategy_cases import FACTORIES

from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.schemas import Query, UpdateResponse
from emb_opt.stopping import StopRule
from emb_opt.utils import build_batch_from_items


def stay(queries):
    """An update that asks for the same queries again: nothing new is ever found."""
    return [
        UpdateResponse(query=Query(embedding=q.embedding), parent_id=q.internal.id) for q in queries
    ]


def run(source, update, stop, iterations=50, log=None, starts=4):
    runner = Runner(source, None, TargetScore(), None, update)
    batch = None if log is not None else build_batch_from_items(source.sample(starts, seed=1))
    return runner.search(batch, iterations, log=log, verbose=False, stop=stop)[1]


def test_budget_is_exact_and_stops_the_search(source):
    log = run(source, FACTORIES["surrogate"](source, 0), StopRule(max_score_calls=23))
    assert log.counters.score_calls == 23
    assert log.counters.iterations < 50


def test_budget_holds_across_a_resumed_search(source):
    rule = StopRule(max_score_calls=45)
    update = FACTORIES["surrogate"](source, 0)
    log = run(source, update, rule, iterations=2)
    log = run(source, update, rule, log=log)
    assert log.counters.score_calls == 45


def test_target_score_stops_once_reached(source, truth, small_corpus):
    from emb_opt.objectives import target_distance_score

    target = float(target_distance_score(small_corpus.embeddings[truth[40:41]])[0])
    log = run(source, FACTORIES["surrogate"](source, 0), StopRule(target_score=target), 100)
    assert log.best().score >= target
    assert [r["best_score"] >= target for r in log.history].index(True) == len(log.history) - 1


def test_patience_counts_iterations_without_a_better_score(source):
    log = run(source, stay, StopRule(patience=3))
    assert log.counters.iterations == 4


def test_idle_counts_iterations_that_scored_nothing_new(source):
    log = run(source, stay, StopRule(idle=2))
    assert log.counters.iterations == 3


def test_no_rule_runs_every_iteration(source):
    assert run(source, stay, None, iterations=6).counters.iterations == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_score_calls": 0},
        {"max_score_calls": -5},
        {"max_score_calls": True},
        {"max_score_calls": 2.5},
        {"patience": 0},
        {"idle": False},
        {"target_score": math.nan},
        {"target_score": "0.9"},
    ],
)
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        StopRule(**kwargs)


@pytest.mark.parametrize(
    ("rule", "reason", "update"),
    [
        (StopRule(max_score_calls=30), "score budget of 30 calls spent", "surrogate"),
        (StopRule(target_score=0.0), "target score 0.0 reached", "stay"),
        (StopRule(patience=2), "no better score in 2 iterations", "stay"),
        (StopRule(idle=2), "no new item in 2 iterations", "stay"),
    ],
)
def test_the_rule_says_why_it_stopped(source, rule, reason, update):
    log = run(source, stay if update == "stay" else FACTORIES[update](source, 0), rule)
    assert rule.reason(log) == reason
    assert log.counters.iterations < 50


def test_the_iteration_cap_counts_the_whole_log_and_says_why(source):
    rule = StopRule(iterations=5)
    log = run(source, stay, rule, iterations=3)
    assert rule.reason(log) is None and log.counters.iterations == 3
    log = run(source, stay, rule, log=log)  # a later call stops at the log's fifth iteration
    assert log.counters.iterations == 5 and rule.reason(log) == "5 iterations done"


def test_a_search_without_queries_left_says_so(source):
    log = run(source, lambda queries: [], StopRule())
    assert log.counters.iterations == 1
    assert StopRule().reason(log) == "the update function proposed no more queries"


def test_the_rule_is_built_from_a_stop_block_and_checks_it_once():
    block = {"iterations": 7, "max_score_calls": 40, "target_score": 1.5, "idle": None}
    assert StopRule.from_config(block, count_known=True) == StopRule(
        iterations=7, max_score_calls=40, target_score=1.5, idle=None, count_known=True
    )
    with pytest.raises(ValueError, match="iterations must be a non-negative integer, got -1"):
        StopRule.from_config({"iterations": -1})
