"""Replicates: an item scored valid more than once has the mean of its valid scores as its
score everywhere (results, best, memory), keeps it across save/load and resume, and gets its
further scores from known scores or from `AskTell.replicate`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emb_opt import Runner, SearchLog, StopRule
from emb_opt.asktell import AskTell
from emb_opt.direction import Direction
from emb_opt.log import CHECKPOINTS, LogWriter, item_key, load_log, open_log, save_log
from emb_opt.objectives import TargetScore
from emb_opt.update import GuidedUpdate
from emb_opt.update.memory import ScoredMemory

DIRECTIONS = {"maximize": 1.0, "minimize": -1.0}  # sign: scores turned so the best is first


def rows(log: SearchLog) -> dict:
    return {row["id"]: (row["score"], row["n_scores"]) for row in log.compile_results()}


def known_log(source, direction: str) -> tuple[SearchLog, list]:
    """A log of three known items, scored 0.8, 0.9 and 0.3 (times the direction's sign)."""
    sign = DIRECTIONS[direction]
    log = SearchLog(direction=Direction(direction))
    items = source.fetch([1, 2, 3])
    for item, score in zip(items, [0.8, 0.9, 0.3]):
        log.add_known(item, sign * score)
    return log, items


@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_replicates_are_averaged_and_the_best_follows_the_mean(numpy_source, direction):
    sign = DIRECTIONS[direction]
    log, (a, b, c) = known_log(numpy_source, direction)
    assert log.best().id == b.id
    log.add_known(b, sign * 0.1)  # b: mean 0.5, below a
    assert log.best().id == a.id
    assert rows(log)[b.id] == (pytest.approx(sign * 0.5), 2)
    assert rows(log)[a.id] == (pytest.approx(sign * 0.8), 1)
    assert [row["id"] for row in log.compile_results()] == [a.id, b.id, c.id]
    log.add_known(c, sign * 1.0)
    log.add_known(c, sign * 1.1)  # c: mean 0.8, tied with a, which came first
    assert log.best().id == a.id and rows(log)[c.id] == (pytest.approx(sign * 0.8), 3)
    log.add_known(c, sign * 1.5)  # c: mean 0.975
    assert log.best().id == c.id and log.best().score == pytest.approx(sign * 0.975)
    assert log.replicates[item_key(c)] == pytest.approx([sign * x for x in (0.3, 1, 1.1, 1.5)])
    assert log.score_cache[item_key(c)].score == pytest.approx(sign * 0.975)
    assert log.counters.known_scores == 3  # items, not scores


def test_an_invalid_replicate_is_dropped_and_an_invalid_item_can_become_valid(numpy_source):
    log, (a, _, _) = known_log(numpy_source, "maximize")
    journal = len(log.journal)
    log.add_known(a, None, "the well dried out")
    assert rows(log)[a.id] == (pytest.approx(0.8), 1) and len(log.journal) == journal
    failed = numpy_source.fetch([4])[0]
    log.add_known(failed, None, "no signal")
    assert log.score_count(item_key(failed)) == 0
    log.add_known(failed, 0.95)  # measured again, this time it worked
    assert rows(log)[failed.id] == (pytest.approx(0.95), 1) and log.best().id == failed.id
    assert log.counters.known_scores == 4


def test_a_searched_item_known_later_gains_a_replicate(numpy_source, start_batch):
    runner = Runner(numpy_source, None, TargetScore(), None, GuidedUpdate(batch=5, initial=10))
    _, log = runner.search(start_batch, 3, verbose=False)
    best = log.best()
    first, key = best.score, item_key(best)
    runner.search(None, 1, log=log, verbose=False, known=[(best, first - 1.0)])
    assert rows(log)[best.id] == (pytest.approx(first - 0.5), 2)
    assert log.score_cache[key].score == pytest.approx(first - 0.5)  # what a retrieval gets
    assert log.counters.known_scores == 0


def test_memory_rows_hold_the_oriented_mean(numpy_source):
    log, (a, b, c) = known_log(numpy_source, "minimize")
    memory = ScoredMemory()
    memory.sync(log)
    log.add_known(b, -0.1)
    log.add_known(b, -0.2)
    memory.sync(log)
    assert len(memory) == 3 and memory.keys() == [item_key(i) for i in (a, b, c)]
    assert memory.scores == pytest.approx([0.8, (0.9 + 0.1 + 0.2) / 3, 0.3])


def guided(source):
    return Runner(source, None, TargetScore(), None, GuidedUpdate(batch=6, initial=12), seed=4)


def with_replicates(log: SearchLog) -> None:
    """Re-test the three best items, each scored 0.1 below its first score (the best twice)."""
    top = [log.items[repr(row["id"])] for row in log.compile_results()[:3]]
    for item in [top[0], *top]:
        first = log.replicates.get(item_key(item), [item.score])[0]
        log.add_known(item, first - 0.1)


def fingerprint(log: SearchLog) -> tuple:
    results = [(r["id"], r["score"], r["n_scores"], r["iteration"]) for r in log.compile_results()]
    return results, log.best().id, [h["best_score"] for h in log.history], log.counters


def test_a_saved_log_keeps_replicates_and_resumes_exactly(numpy_source, start_batch, tmp_path):
    _, straight = guided(numpy_source).search(start_batch.model_copy(deep=True), 3, verbose=False)
    with_replicates(straight)
    guided(numpy_source).search(None, 3, log=straight, verbose=False)

    _, first = guided(numpy_source).search(start_batch.model_copy(deep=True), 3, verbose=False)
    with_replicates(first)
    save_log(first, tmp_path / "log")
    loaded = load_log(tmp_path / "log")
    assert loaded.replicates == first.replicates and rows(loaded) == rows(first)
    assert loaded.best().id == first.best().id
    guided(numpy_source).search(None, 3, log=loaded, verbose=False)
    assert fingerprint(loaded) == fingerprint(straight)
    assert sum(n > 1 for _, n in rows(loaded).values()) == 3


def test_only_lines_with_replicates_are_format_3(numpy_source, start_batch, tmp_path):
    """Lines without replicates stay format 2 (as every log written before replicates is),
    so such logs load as they did; a line with some is format 3, which an older reader
    refuses instead of dropping them."""
    log = SearchLog(pending=start_batch)
    writer = LogWriter.create(tmp_path / "log", log)
    guided(numpy_source).search(None, 2, log=log, verbose=False, on_iteration=writer.append)
    with_replicates(log)
    writer.append(log)
    guided(numpy_source).search(None, 1, log=log, verbose=False, on_iteration=writer.append)
    lines = [json.loads(line) for line in (tmp_path / "log" / CHECKPOINTS).read_text().splitlines()]
    assert [line["format"] for line in lines] == [2, 2, 2, 3, 2]
    assert sum(len(s) for s in lines[3]["replicates"].values()) == 4
    assert all("replicates" not in line for line in lines[:3] + lines[4:])
    loaded, _ = open_log(tmp_path / "log")
    assert rows(loaded) == rows(log) and loaded.best().id == log.best().id


def scored_session(source, start_batch) -> tuple[AskTell, list[str]]:
    """An ask/tell search with one iteration told (the first item invalid) and the next asked."""
    runner = Runner(source, None, None, None, GuidedUpdate(batch=5, initial=10), seed=1)
    session = AskTell(runner, start_batch, stop=StopRule(max_score_calls=100))
    ids = [a.id for a in session.ask()]
    scores, reasons = [None, *np.linspace(0.1, 0.9, len(ids) - 1)], [None] * len(ids)
    session.tell(ids, scores, ["failed", *reasons[1:]])
    session.ask()
    return session, ids


def test_ask_tell_replicates_are_averaged(numpy_source, start_batch):
    session, ids = scored_session(numpy_source, start_batch)
    assert session.replicable() == set(ids[1:])
    before = rows(session.log)
    session.replicate([ids[1], ids[2], ids[1]], [0.4, 0.0, 0.7])
    after = rows(session.log)
    id1, id2 = (int(i) for i in ids[1:3])
    assert after[id1] == (pytest.approx((before[id1][0] + 0.4 + 0.7) / 3), 3)
    assert after[id2] == (pytest.approx(before[id2][0] / 2), 2)
    assert {i: r for i, r in after.items() if i not in (id1, id2)} == {
        i: r for i, r in before.items() if i not in (id1, id2)
    }


def test_a_bad_replicate_changes_nothing(numpy_source, start_batch):
    session, ids = scored_session(numpy_source, start_batch)
    waiting = session.waiting()[0].id
    before = (rows(session.log), len(session.log.journal), dict(session.log.replicates))
    for bad_ids, scores, message in [
        ([ids[1], "nope"], [0.5, 0.5], "id 'nope' is unknown to this search"),
        ([ids[1], ids[0]], [0.5, 0.5], f"id '{ids[0]}' is not scored valid"),  # told invalid
        ([ids[1], waiting], [0.5, 0.5], f"id '{waiting}' is not scored valid"),  # asked
        ([ids[1], ids[2]], [0.5, float("nan")], "must be finite"),
        ([ids[1], ids[2]], [0.5, float("inf")], "must be finite"),
        ([ids[1], ids[2]], [0.5, "high"], "must be a number"),
        ([ids[1], ids[2]], [0.5, None], "must be a number"),
        ([ids[1]], [0.5, 0.6], "one score per id"),
    ]:
        with pytest.raises(ValueError, match=message):
            session.replicate(bad_ids, scores)
        assert (rows(session.log), len(session.log.journal), session.log.replicates) == before
