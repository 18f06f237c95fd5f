"""Every strategy runs from a run configuration, within the budget the config sets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from emb_opt.config import build_run, validate
from emb_opt.errors import ConfigError
from emb_opt.objectives import target_distance_score
from emb_opt.stopping import StopRule
from emb_opt.update import GuidedUpdate, RestartUpdate, SurrogateUpdate

BUDGET = 150


def configured(update: Any, **stop: Any):
    return validate(
        {
            "source": {
                "backend": "faiss",
                "k": 5,
                "data": {"kind": "synthetic", "n": 2000, "dim": 16, "seed": 0},
            },
            "score": {"function": "target"},
            "strategy": {"update": update},
            "start": {"random": 4, "seed": 1},
            "stop": {"iterations": 40, "max_score_calls": BUDGET, **stop},
        }
    )


@pytest.mark.parametrize(
    "update",
    [
        "line_search",
        "surrogate",
        {"name": "evolution", "offspring": 2},
        {"name": "restarts", "patience": 2, "update": {"name": "surrogate", "share": False}},
    ],
)
def test_a_configured_strategy_keeps_to_its_budget(update):
    run = build_run(configured(update, idle=10))
    try:
        _, log = run.runner.search(
            run.start_batch(), run.config.stop.iterations, verbose=False, stop=run.stop
        )
    finally:
        run.close()
    assert run.stop == StopRule(iterations=40, max_score_calls=BUDGET, idle=10)
    assert log.counters.iterations > 1
    assert 20 < log.counters.score_calls <= BUDGET


def test_restarts_build_the_strategy_they_wrap_and_count_their_reads():
    config = configured({"name": "restarts", "update": {"name": "surrogate", "probes": 3}})
    run = build_run(config)
    try:
        restarts = run.runner.update_function
        assert isinstance(restarts, RestartUpdate)
        assert isinstance(restarts.update, SurrogateUpdate) and restarts.update.probes == 3
        _, log = run.runner.search(run.start_batch(), 30, verbose=False, stop=run.stop)
    finally:
        run.close()
    assert restarts.restarts > 0  # each restart read the collection once, through the runner
    assert log.counters.data_source_calls > log.counters.iterations


def test_a_bad_wrapped_strategy_is_named_with_its_place():
    with pytest.raises(ConfigError, match=r"strategy\.update\.update: unknown name 'nope'"):
        build_run(configured({"name": "restarts", "update": "nope"}))


def test_a_malformed_wrapped_strategy_is_named_with_its_place():
    with pytest.raises(ConfigError, match=r"strategy\.update\.update: Input should be a valid"):
        build_run(configured({"name": "restarts", "update": {"name": 5}}))


def test_a_config_with_only_source_score_and_budget_runs_a_good_search():
    config = validate(
        {
            "source": {
                "backend": "faiss",
                "k": 10,
                "data": {"kind": "synthetic", "n": 5000, "dim": 16, "seed": 0},
            },
            "score": {"function": "target"},
            "stop": {"max_score_calls": 300},
        }
    )
    run = build_run(config)
    try:
        assert isinstance(run.runner.update_function, GuidedUpdate)
        assert run.stop == StopRule(iterations=200, max_score_calls=300, idle=5)
        _, log = run.runner.search(
            run.start_batch(), config.stop.iterations, verbose=False, stop=run.stop
        )
    finally:
        run.close()
    assert run.stop.reason(log) == "score budget of 300 calls spent"  # not the iteration cap
    truth = target_distance_score(run.source.embeddings)
    best_ten = set(np.argsort(-truth, kind="stable")[:10].tolist())
    found = {item.id for item in log.items.values() if item.score is not None}
    assert len(found & best_ten) >= 8


def test_a_stalled_configured_search_stops_by_itself_and_says_why():
    config = configured({"name": "topk_discrete", "k": 1}, iterations=500)
    run = build_run(config)
    try:
        _, log = run.runner.search(run.start_batch(), 500, verbose=False, stop=run.stop)
    finally:
        run.close()
    assert log.counters.iterations < 500
    assert run.stop.reason(log) == "no new item in 5 iterations"
