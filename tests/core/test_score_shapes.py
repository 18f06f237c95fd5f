"""What a score function may return per item, what it may not, and the Runner's defaults."""

from __future__ import annotations

import re

import numpy as np
import pytest

from emb_opt import PluginResponseError, Runner, SearchAborted, StopRule
from emb_opt.asktell import AskTell
from emb_opt.executors import ThreadExecutor
from emb_opt.objectives import TargetScore, target_distance_score
from emb_opt.schemas import ScoreResponse
from emb_opt.update import GuidedUpdate

ACCEPTED = 'expected a number, None, a dict like {"score": 1.0} or a ScoreResponse'


def low(item) -> bool:
    """Items some shapes answer differently (invalid ones), about a third of them."""
    return item.data["rand"] < 0.3


# each shape: what the score function returns for an item of score `s`, and the ScoreResponse
# it stands for
SHAPES = {
    "float": (lambda item, s: s, lambda item, s: ScoreResponse(valid=True, score=s)),
    "int": (
        lambda item, s: round(s * 1000),
        lambda item, s: ScoreResponse(valid=True, score=float(round(s * 1000))),
    ),
    "numpy float32": (
        lambda item, s: np.float32(s),
        lambda item, s: ScoreResponse(valid=True, score=float(np.float32(s))),
    ),
    "numpy int64": (
        lambda item, s: np.int64(round(s * 1000)),
        lambda item, s: ScoreResponse(valid=True, score=float(round(s * 1000))),
    ),
    "None for some": (
        lambda item, s: None if low(item) else s,
        lambda item, s: (
            ScoreResponse(valid=False, data={"error": "score function returned None"})
            if low(item)
            else ScoreResponse(valid=True, score=s)
        ),
    ),
    "dict": (lambda item, s: {"score": s}, lambda item, s: ScoreResponse(valid=True, score=s)),
    "dict with extra keys": (
        lambda item, s: {"score": s, "plate": "p1", "data": {"well": item.id}},
        lambda item, s: ScoreResponse(valid=True, score=s, data={"well": item.id, "plate": "p1"}),
    ),
    "dict invalid for some": (
        lambda item, s: {"score": s, "valid": not low(item), "error": "failed well"},
        lambda item, s: ScoreResponse(valid=not low(item), score=s, data={"error": "failed well"}),
    ),
    "ScoreResponse": (
        lambda item, s: ScoreResponse(valid=True, score=s),
        lambda item, s: ScoreResponse(valid=True, score=s),
    ),
}


def scorer(answer):
    """A score function answering `answer(item, target score)` for each item."""

    def score(items):
        return [answer(item, r.score) for item, r in zip(items, TargetScore()(items))]

    return score


def outcome(log):
    """Every item the search saw: id, score, data and removal reason."""
    return sorted(
        (item.id, item.score, str(item.data), item.internal.removal_reason)
        for item in log.items.values()
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_each_accepted_shape_is_what_it_stands_for(numpy_source, start_batch, shape):
    answer, stands_for = SHAPES[shape]

    def search(fn):
        runner = Runner(numpy_source, score_function=fn, update_function=GuidedUpdate(seed=1))
        return runner.search(start_batch.model_copy(deep=True), 4, verbose=False)[1]

    log = search(scorer(answer))
    assert log.counters.score_calls > 20
    assert outcome(log) == outcome(search(scorer(stands_for)))
    if "some" in shape:
        reasons = {i.internal.removal_reason for i in log.items.values() if i.internal.removed}
        assert reasons >= {"failed well" if "dict" in shape else "score function returned None"}


def test_a_numpy_array_of_scores_is_one_score_per_item(numpy_source, start_batch):
    def array_score(items):
        return target_distance_score(np.stack([item.embedding for item in items]))

    runner = Runner(numpy_source, score_function=array_score)
    _, log = runner.search(start_batch, 3, verbose=False)
    best = log.compile_results()[0]
    assert best["score"] == pytest.approx(float(target_distance_score(best["embedding"][None])[0]))


WRONG_SHAPES = {
    "a string": (lambda items: ["0.5" for _ in items], ["response 0 is '0.5' (str)"]),
    "a bool": (lambda items: [True for _ in items], ["response 0 is True (a bool is not a score)"]),
    "an int beyond float range": (
        lambda items: [1.0, 1.0, 10**400, *[1.0] * (len(items) - 3)],
        ["response 2 is an int of about 400 digits (beyond the float range)"],
    ),
    "a list per item": (lambda items: [[0.5] for _ in items], ["response 0 is [0.5] (list)"]),
    "a dict whose score is text": (
        lambda items: [{"score": "high"} for _ in items],
        ["response 0 is {'score': 'high'} (dict), whose 'score' is 'high' (str)"],
    ),
    "a dict without a score": (
        lambda items: [{"scor": 0.5} for _ in items],
        ["response 0 is {'scor': 0.5} (dict), which has no 'score' key"],
    ),
}


@pytest.mark.parametrize("case", WRONG_SHAPES)
@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_a_wrong_shape_is_one_line_naming_the_response(numpy_source, start_batch, case, executor):
    fn, names = WRONG_SHAPES[case]

    def wrong(items):
        return fn(items)

    options = {"executor": ThreadExecutor(batch_size=7)} if executor == "threads" else {}
    runner = Runner(numpy_source, score_function=wrong, **options)
    with pytest.raises(SearchAborted) as caught:
        runner.search(start_batch, 3, verbose=False)
    message = str(caught.value)
    assert isinstance(caught.value.__cause__, PluginResponseError)
    assert "\n" not in message and "pydantic" not in message
    for name in ["score function", "wrong'", *names, ACCEPTED]:
        assert name in message, message


def test_a_list_of_the_wrong_length_names_both_counts(numpy_source, start_batch):
    def short(items):
        return [0.5 for _ in items[1:]]

    with pytest.raises(SearchAborted) as caught:
        Runner(numpy_source, score_function=short).search(start_batch, 1, verbose=False)
    returned, asked = re.search(
        r"short' returned (\d+) responses for (\d+) inputs", str(caught.value)
    ).groups()
    assert int(returned) == int(asked) - 1 and isinstance(
        caught.value.__cause__, PluginResponseError
    )


def test_runner_defaults_are_no_filter_no_prune_and_the_guided_strategy(numpy_source, start_batch):
    runner = Runner(numpy_source, score_function=TargetScore())
    assert runner.filter_function is runner.prune_function is None
    assert isinstance(runner.update_function, GuidedUpdate)
    _, log = runner.search(start_batch, 5, verbose=False, stop=StopRule(max_score_calls=60))
    assert 0 < log.counters.score_calls <= 60 and log.best() is not None
    assert Runner(numpy_source).update_function is not runner.update_function  # one each


def test_a_runner_without_a_score_function_refuses_to_search(numpy_source, start_batch):
    with pytest.raises(ValueError, match=r"no score function: pass score_function=.*AskTell"):
        Runner(numpy_source).search(start_batch, 1, verbose=False)


def test_a_plugin_that_is_not_callable_is_named(numpy_source):
    with pytest.raises(TypeError, match="the prune function must be callable, got int"):
        Runner(numpy_source, score_function=TargetScore(), prune_function=3)


@pytest.mark.parametrize("given", ["data source", "runner without a score function"])
def test_ask_tell_needs_no_score_function(numpy_source, start_batch, given):
    source = numpy_source if given == "data source" else Runner(numpy_source, seed=0)
    session = AskTell(source, start_batch.model_copy(deep=True), iterations=3)
    while asked := session.ask():
        scores = target_distance_score(np.stack([a.embedding for a in asked]))
        session.tell([a.id for a in asked], [float(s) for s in scores])
    _, straight = Runner(numpy_source, score_function=TargetScore(), seed=0).search(
        start_batch.model_copy(deep=True), 3, verbose=False
    )
    assert session.stopped == "3 iterations done"
    told = [(r["id"], r["score"]) for r in session.log.compile_results()]
    assert told == [(r["id"], r["score"]) for r in straight.compile_results()]
