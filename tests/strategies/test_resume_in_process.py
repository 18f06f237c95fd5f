"""A search continued from a saved log, with a fresh strategy, equals an uninterrupted one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from strategy_cases import FACTORIES, NEW_STRATEGIES

from emb_opt.config.registry import STRATEGIES
from emb_opt.log import SearchLog, load_log, save_log
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.update import Strategy, TopKContinuousUpdate, TopKDiscreteUpdate
from emb_opt.utils import build_batch_from_items

CASES = {
    **FACTORIES,
    "topk_discrete": lambda source, seed: TopKDiscreteUpdate(4),
    "topk_continuous": lambda source, seed: TopKContinuousUpdate(3),
    "guided": FACTORIES["guided_pool"],
}


def test_every_registered_strategy_is_covered():
    assert set(STRATEGIES) <= set(CASES)


def run(source, name, iterations, log=None, seed=3):
    runner = Runner(source, None, TargetScore(), None, CASES[name](source, seed), seed=seed)
    batch = None if log is not None else build_batch_from_items(source.sample(5, seed=7))
    stop = StopRule(max_score_calls=400)
    return runner.search(batch, iterations, log=log, verbose=False, stop=stop)[1]


def fingerprint(log: SearchLog) -> tuple:
    results = [(r["id"], r["score"], r["iteration"]) for r in log.compile_results()]
    queries = [  # a saved log keeps past queries as float32, the pending ones exactly
        np.asarray(q.embedding, dtype=np.float32).tobytes()
        for batch in log.batches
        for q in batch.queries
    ]
    pending = [q.embedding.tobytes() for q in log.pending.queries] if log.pending else []
    return results, queries, pending, log.counters


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("split", [1, 4])
def test_resumed_search_equals_the_uninterrupted_one(source, tmp_path, name, split):
    straight = run(source, name, 10)
    first = run(source, name, split)
    save_log(first, tmp_path / "log")
    resumed = run(source, name, 10 - split, log=load_log(tmp_path / "log"))
    assert fingerprint(resumed) == fingerprint(straight)


@pytest.mark.parametrize("name", NEW_STRATEGIES)
def test_state_is_json_and_restores_to_itself(source, name):
    update = CASES[name](source, 0)
    log = run(source, name, 5)
    assert isinstance(log.strategy_state, dict)
    text = json.dumps(log.strategy_state)
    runner = Runner(source, None, TargetScore(), None, update)
    runner.search(None, 0, log=log, verbose=False)  # binds, then restores the saved state
    assert isinstance(update, Strategy)
    assert json.dumps(update.state()) == text
