"""Ask/tell in Python: the same search as the callable one, told in any order, across
processes (a log and the open iteration saved and read back), and bad tells change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt import Runner, SearchAborted, StopRule
from emb_opt.asktell import AskTell
from emb_opt.log import load_log, save_log
from emb_opt.objectives import TargetScore, target_distance_score
from emb_opt.update import GuidedUpdate, RLUpdate, SurrogateUpdate

STRATEGIES = {
    "rl": lambda: RLUpdate(lrs=[0.1, 0.4]),
    "surrogate": lambda: SurrogateUpdate(seed=2),
    "guided": lambda: GuidedUpdate(batch=7, queries=4, initial=12, seed=2),
}


def runner(source, name):
    return Runner(source, None, TargetScore(), None, STRATEGIES[name](), seed=5)


def fingerprint(log):
    results = [(r["id"], r["score"], r["iteration"]) for r in log.compile_results()]
    return results, log.counters


def answer(session, asked, rng):
    """Tell the scores of `asked` in a random order, in two calls."""
    order = rng.permutation(len(asked))
    scores = target_distance_score(np.stack([a.embedding for a in asked]))
    half = len(order) // 2
    for part in (order[:half], order[half:]):
        if len(part):
            session.tell([asked[i].id for i in part], [float(scores[i]) for i in part])


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_ask_tell_ends_as_the_callable_search_does(numpy_source, start_batch, name):
    stop = StopRule(max_score_calls=90)
    _, straight = runner(numpy_source, name).search(
        start_batch.model_copy(deep=True), 8, verbose=False, stop=stop
    )
    session = AskTell(
        runner(numpy_source, name), start_batch.model_copy(deep=True), stop=stop, iterations=8
    )
    rng = np.random.default_rng(0)
    while asked := session.ask():
        assert len({a.id for a in asked}) == len(asked)
        answer(session, asked, rng)
    assert session.stopped
    assert fingerprint(session.log) == fingerprint(straight)


@pytest.mark.parametrize("name", ["surrogate", "guided"])
def test_each_round_can_come_from_a_new_process(numpy_source, start_batch, tmp_path, name):
    """Every ask and every tell in a fresh runner that reads the log and the open iteration."""
    stop = StopRule(max_score_calls=90)
    _, straight = runner(numpy_source, name).search(
        start_batch.model_copy(deep=True), 8, verbose=False, stop=stop
    )
    log, state, rng = None, None, np.random.default_rng(1)

    def reopen():
        loaded = load_log(tmp_path / "log") if log is not None else None
        batch = None if loaded is not None else start_batch.model_copy(deep=True)
        session = AskTell(runner(numpy_source, name), batch, loaded, stop=stop, iterations=8)
        if state is not None:
            session.restore(state)
        return session

    while True:
        session = reopen()
        asked = session.ask()
        log, state = session.log, session.state()
        save_log(log, tmp_path / "log")
        if not asked:
            break
        session = reopen()
        answer(session, asked, rng)
        log, state = session.log, session.state()
        save_log(log, tmp_path / "log")
    assert fingerprint(load_log(tmp_path / "log")) == fingerprint(straight)


def test_a_bad_tell_changes_nothing(numpy_source, start_batch):
    session = AskTell(runner(numpy_source, "rl"), start_batch, iterations=3)
    asked = session.ask()
    ids = [a.id for a in asked]
    for bad_ids, scores, message in [
        (["nope"], [1.0], "id 'nope' is not waiting for a score"),
        ([ids[0], ids[0]], [1.0, 2.0], "was told 1.0 before, now 2.0"),
        ([ids[0], ids[1]], [1.0, float("nan")], "must be finite"),
        ([ids[0]], ["high"], "must be a number"),
        ([ids[0]], [1.0, 2.0], "one score and one reason per id"),
    ]:
        with pytest.raises(ValueError, match=message):
            session.tell(bad_ids, scores)
        assert [a.id for a in session.ask()] == ids  # nothing was told
    assert session.tell([ids[0]], [None], reasons=["the well dried out"]) == len(ids) - 1
    with pytest.raises(ValueError, match=r"was told invalid \(the well dried out\) before"):
        session.tell([ids[0]], [0.5])
    assert session.tell([ids[0]], [None], reasons=["the well dried out"]) == len(ids) - 1
    session.tell(ids[1:], [0.1] * (len(ids) - 1))
    dried = session.log.items[next(k for k, v in session.log.items.items() if str(v.id) == ids[0])]
    assert dried.internal.removal_reason == "the well dried out"
    assert session.log.counters.iterations == 1


def test_proceed_finishes_with_what_was_told(numpy_source, start_batch):
    session = AskTell(runner(numpy_source, "rl"), start_batch, iterations=3)
    asked = session.ask()
    session.tell([asked[0].id], [0.9])
    session.proceed()
    assert session.log.counters.iterations == 1 and session.log.counters.score_calls == 1
    valid = [i for i in session.log.items.values() if not i.internal.removed]
    assert [i.score for i in valid] == [0.9]
    assert not {a.id for a in session.ask()} & {a.id for a in asked}  # never asked again


def test_one_stop_rule_ends_both_loops_alike(numpy_source, start_batch):
    """The iteration cap is the rule's: the callable search and ask/tell stop at the same
    iteration of the log and say why in the same words."""
    rule = StopRule(iterations=3)
    _, straight = runner(numpy_source, "guided").search(
        start_batch.model_copy(deep=True), 100, verbose=False, stop=rule
    )
    session = AskTell(runner(numpy_source, "guided"), start_batch.model_copy(deep=True), stop=rule)
    rng = np.random.default_rng(0)
    while asked := session.ask():
        answer(session, asked, rng)
    assert straight.counters.iterations == session.log.counters.iterations == 3
    assert rule.reason(straight) == session.stopped == "3 iterations done"


def test_both_loops_abort_through_one_guard(numpy_source, start_batch):
    """A data source that fails on its second call ends both loops with the same
    SearchAborted, holding the log of the finished iteration."""

    def failing_source():
        calls = []

        def source(queries):
            calls.append(1)
            if len(calls) == 2:
                raise OSError("the database went away")
            return numpy_source(queries)

        return source

    with pytest.raises(SearchAborted) as straight:
        Runner(failing_source(), None, TargetScore()).search(
            start_batch.model_copy(deep=True), 5, verbose=False
        )
    session = AskTell(failing_source(), start_batch.model_copy(deep=True))
    answer(session, session.ask(), np.random.default_rng(0))
    with pytest.raises(SearchAborted) as told:
        session.ask()
    assert str(told.value) == str(straight.value)
    assert "the database went away" in str(told.value) and "1 finished iteration" in str(told.value)
    assert told.value.log.counters.iterations == 1


def test_iterations_beside_a_stop_rule_lowers_its_cap(numpy_source, start_batch):
    """One rule decides: `iterations` folds into `stop`, the lower cap wins."""
    session = AskTell(
        runner(numpy_source, "rl"), start_batch, stop=StopRule(iterations=2, idle=9), iterations=5
    )
    assert session.stop == StopRule(iterations=2, idle=9)
    rng = np.random.default_rng(0)
    while asked := session.ask():
        answer(session, asked, rng)
    assert session.log.counters.iterations == 2 and session.stopped == "2 iterations done"
