"""The search loop: caching, bad input, errors that keep the log, resume."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt import PluginError, Runner, SearchAborted
from emb_opt.calls import raised_by
from emb_opt.log import UNSCORED, load_log, save_log
from emb_opt.objectives import TargetScore
from emb_opt.prune import TopKPrune
from emb_opt.schemas import FilterResponse, ScoreResponse
from emb_opt.update import RLUpdate, TopKDiscreteUpdate
from emb_opt.utils import build_batch_from_embeddings


class Recording:
    """A plugin that remembers every item id it received."""

    def __init__(self, inner):
        self.inner = inner
        self.seen: list = []

    def __call__(self, items):
        self.seen += [item.id for item in items]
        return self.inner(items)


def keep_all(items):
    return [FilterResponse(valid=True) for _ in items]


def test_every_item_is_scored_and_filtered_once(numpy_source, start_batch):
    score, flt = Recording(TargetScore()), Recording(keep_all)
    # two identical start queries return the same items in the same iteration
    start_batch.queries.append(start_batch.queries[0].model_copy(deep=True))
    runner = Runner(numpy_source, flt, score, None, RLUpdate(lrs=[0.1, 0.3]))
    _, log = runner.search(start_batch, 6, verbose=False)
    assert len(score.seen) == len(set(score.seen)) == log.counters.score_calls
    assert len(flt.seen) == len(set(flt.seen)) == log.counters.filter_calls
    returned = sum(len(q.query_results) for b in log.batches for q in b.queries)
    assert returned > log.counters.score_calls  # repeats happened and were served from cache
    assert log.counters.score_calls == log.unique_items


def test_plain_dict_responses_are_accepted(numpy_source, start_batch):
    def score(items):
        return [{"valid": True, "score": float(i.embedding.sum())} for i in items]

    _, log = Runner(numpy_source, None, score, None, RLUpdate(lrs=[0.2])).search(
        start_batch, 2, verbose=False
    )
    assert log.best().score == max(r["score"] for r in log.compile_results())


def test_wrong_response_count_names_the_plugin(numpy_source, start_batch):
    def short_score(items):
        return [ScoreResponse(valid=True, score=1.0) for _ in items[:-1]]

    runner = Runner(numpy_source, None, short_score, None, RLUpdate(lrs=[0.2]))
    with pytest.raises(SearchAborted, match=r"short_score.*responses for \d+ inputs") as caught:
        runner.search(start_batch, 1, verbose=False)
    assert isinstance(caught.value.__cause__, PluginError)


def test_response_failing_its_schema_names_the_field(numpy_source, start_batch):
    def bad_score(items):
        return [{"valid": "perhaps", "score": "high"} for _ in items]

    runner = Runner(numpy_source, None, bad_score, None, RLUpdate(lrs=[0.2]))
    with pytest.raises(
        SearchAborted, match=r"bad_score' response 0 is .*'score' is 'high'"
    ) as caught:
        runner.search(start_batch, 1, verbose=False)
    assert isinstance(caught.value.__cause__, PluginError)


class CountingSource:
    def __init__(self, source):
        self.source, self.calls = source, 0
        self.dimension = source.dimension

    def __call__(self, queries):
        self.calls += 1
        return self.source(queries)


def test_wrong_dimension_is_caught_before_the_database(numpy_source):
    source = CountingSource(numpy_source)
    runner = Runner(source, None, TargetScore(), None, RLUpdate(lrs=[0.2]))
    with pytest.raises(ValueError, match="dimension 8, expected 16"):
        runner.search(build_batch_from_embeddings(np.zeros((2, 8))), 1, verbose=False)
    assert source.calls == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_embeddings_are_rejected(numpy_source, bad):
    start = np.zeros((2, 16))
    start[1, 3] = bad
    runner = Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.2]))
    with pytest.raises(ValueError, match="query 1 has a NaN or infinite"):
        runner.search(build_batch_from_embeddings(start), 1, verbose=False)


def test_negative_iterations_and_bad_k_are_rejected(numpy_source, start_batch, corpus):
    from emb_opt.adapters.numpy import NumpyDataSource

    runner = Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.2]))
    with pytest.raises(ValueError, match="iterations must be a non-negative integer, got -1"):
        runner.search(start_batch, -1)
    for k in (0, -3, 2.5):
        with pytest.raises(ValueError, match=f"k must be a positive integer, got {k}$"):
            NumpyDataSource(corpus.embeddings, k=k)


class FailingOnCall:
    """Raises on the n-th call, scores normally otherwise."""

    def __init__(self, fail_on: int, forever: bool = False):
        self.calls, self.fail_on, self.forever = 0, fail_on, forever
        self.inner = TargetScore()

    def __call__(self, items):
        self.calls += 1
        if self.calls == self.fail_on or (self.forever and self.calls > self.fail_on):
            raise RuntimeError("assay machine jammed")
        return self.inner(items)


def test_score_error_stops_with_the_finished_iterations_kept(numpy_source, start_batch):
    score = FailingOnCall(fail_on=3)
    runner = Runner(numpy_source, None, score, None, RLUpdate(lrs=[0.2]))
    with pytest.raises(SearchAborted, match=r"FailingOnCall.*assay machine jammed") as caught:
        runner.search(start_batch, 5, verbose=False)
    log = caught.value.log
    assert log.counters.iterations == 2
    assert log.pending is not None  # the iteration in flight, to be redone
    # resume: the function works again, the search finishes without rescoring anything
    seen_before = set(log.score_cache)
    recorder = Recording(TargetScore())
    runner.score_function = recorder
    _, log = runner.search(None, 3, log=log, verbose=False)
    assert log.counters.iterations == 5
    assert not seen_before & {repr(i) for i in recorder.seen}


def test_invalidate_mode_marks_the_failed_items_and_goes_on(numpy_source, start_batch):
    runner = Runner(
        numpy_source,
        None,
        FailingOnCall(fail_on=2),
        None,
        RLUpdate(lrs=[0.2]),
        on_error="invalidate",
    )
    _, log = runner.search(start_batch, 4, verbose=False)
    assert log.counters.iterations == 4
    failed = [r for r in log.compile_results(skip_removed=False) if r["removed"]]
    assert failed and all("assay machine jammed" in r["removal_reason"] for r in failed)


def nan_or_target(items):
    """The demo objective, NaN for every third item."""
    responses = TargetScore()(items)
    for index, response in enumerate(responses):
        if index % 3 == 0:
            response.score = float("nan")
    return responses


def test_a_nan_score_makes_its_item_invalid_and_is_counted(numpy_source, start_batch):
    runner = Runner(numpy_source, None, nan_or_target, None, RLUpdate(lrs=[0.2]))
    _, log = runner.search(start_batch, 3, verbose=False)
    invalid = [i for i in log.items.values() if i.internal.removed]
    assert invalid and log.counters.non_finite_scores == len(invalid)
    assert {i.internal.removal_reason for i in invalid} == {
        "score function 'nan_or_target' returned nan"
    }
    assert all(i.score is None for i in invalid) and np.isfinite(log.best().score)


def exiting(items):
    raise SystemExit(3)


def test_a_base_exception_goes_on_as_it_is_marked_with_its_plugin(numpy_source, start_batch):
    runner = Runner(numpy_source, None, exiting, None, RLUpdate(lrs=[0.2]))
    with pytest.raises(SystemExit) as caught:  # not turned into an Exception
        runner.search(start_batch, 3, verbose=False)
    assert caught.value.code == 3 and raised_by(caught.value) == "score function 'exiting'"


def test_search_stops_when_no_query_survives(numpy_source, start_batch):
    def drop_all(queries):
        return [{"valid": False} for _ in queries]

    runner = Runner(numpy_source, None, TargetScore(), drop_all, RLUpdate(lrs=[0.2]))
    batch, log = runner.search(start_batch, 10, verbose=False)
    assert log.counters.iterations == 1
    assert len(batch) == 0
    assert all(node.removed for node in log.query_tree.nodes.values())
    assert all(q.internal.removal_reason == "pruned" for q in log.batches[0].queries)


def test_continuing_a_log_adds_iterations_without_rescoring(numpy_source, start_batch):
    score = Recording(TargetScore())
    runner = Runner(numpy_source, None, score, None, RLUpdate(lrs=[0.2]))
    batch, log = runner.search(start_batch, 3, verbose=False)
    batch, log = runner.search(batch, 3, log=log, verbose=False)
    assert log.counters.iterations == 6
    assert len(score.seen) == len(set(score.seen))
    leaf = log.query_tree.leaf_nodes()[0]
    assert [node.iteration for node in leaf.path()] == list(range(6))


def test_saved_log_resumes_to_the_same_results(numpy_source, start_batch, tmp_path):
    def runner():
        return Runner(numpy_source, None, TargetScore(), TopKPrune(3), RLUpdate(lrs=[0.1, 0.4]))

    _, straight = runner().search(start_batch.model_copy(deep=True), 6, verbose=False)
    _, first = runner().search(start_batch.model_copy(deep=True), 3, verbose=False)
    save_log(first, tmp_path / "log")
    loaded = load_log(tmp_path / "log")
    assert loaded.counters == first.counters
    assert len(loaded.query_tree) == len(first.query_tree)
    _, resumed = runner().search(None, 3, log=loaded, verbose=False)
    ids = [(r["id"], round(r["score"], 12)) for r in straight.compile_results()]
    assert [(r["id"], round(r["score"], 12)) for r in resumed.compile_results()] == ids
    assert resumed.counters.score_calls == straight.counters.score_calls


def test_stop_rule_budget_is_never_exceeded(numpy_source, start_batch):
    from emb_opt import StopRule

    runner = Runner(numpy_source, None, TargetScore(), None, TopKDiscreteUpdate(4))
    _, log = runner.search(start_batch, 50, verbose=False, stop=StopRule(max_score_calls=37))
    assert log.counters.score_calls == 37 == log.unique_items
    last = [item for query in log.batches[-1].queries for item in query.query_results]
    assert any(item.internal.removal_reason == UNSCORED for item in last)
    assert all(r["removal_reason"] != UNSCORED for r in log.compile_results(skip_removed=False))


def test_progress_lines_are_printed_when_verbose(numpy_source, start_batch, capsys):
    Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.2])).search(start_batch, 2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("iteration   2  best")


def test_stop_rule_target_and_patience(numpy_source, start_batch):
    from emb_opt import StopRule
    from emb_opt.stopping import stale_iterations

    runner = Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.2]))
    _, log = runner.search(start_batch.model_copy(deep=True), 40, verbose=False)
    best = [h["best_score"] for h in log.history]
    target = best[2]
    _, hit = runner.search(
        start_batch.model_copy(deep=True), 40, verbose=False, stop=StopRule(target_score=target)
    )
    assert hit.counters.iterations == best.index(target) + 1
    _, patient = runner.search(
        start_batch.model_copy(deep=True), 40, verbose=False, stop=StopRule(patience=2)
    )
    assert stale_iterations(patient) == 2 or patient.counters.iterations == 40
    assert patient.history[-1]["best_score"] == patient.history[-3]["best_score"]


def test_stop_rule_budget_counts_the_whole_log_when_resuming(numpy_source, start_batch):
    from emb_opt import StopRule

    runner = Runner(numpy_source, None, TargetScore(), None, TopKDiscreteUpdate(4))
    batch, log = runner.search(start_batch, 2, verbose=False)
    spent = log.counters.score_calls
    _, log = runner.search(
        batch, 50, log=log, verbose=False, stop=StopRule(max_score_calls=spent + 5)
    )
    assert log.counters.score_calls == spent + 5


def test_iterations_is_a_shorthand_for_a_stop_rule(numpy_source, start_batch):
    from emb_opt import StopRule

    def run(*args, **kwargs):
        runner = Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.2]))
        return runner.search(start_batch.model_copy(deep=True), *args, verbose=False, **kwargs)[1]

    by_count, by_rule = run(3), run(stop=StopRule(iterations=3))
    assert by_count.counters == by_rule.counters and by_count.counters.iterations == 3
    assert [r["id"] for r in by_count.compile_results()] == [
        r["id"] for r in by_rule.compile_results()
    ]
    assert run(10, stop=StopRule(iterations=4)).counters.iterations == 4  # the lower cap wins
    assert run(2, stop=StopRule(iterations=4, max_score_calls=500)).counters.iterations == 2
    with pytest.raises(ValueError, match=r"search needs iterations=N or stop=StopRule\(...\)"):
        run()


def test_capped_lowers_a_rules_cap_and_keeps_the_rest(numpy_source):
    from emb_opt import StopRule

    assert StopRule(max_score_calls=9).capped(3) == StopRule(max_score_calls=9, iterations=3)
    assert StopRule(iterations=2, idle=4).capped(3) == StopRule(iterations=2, idle=4)
    with pytest.raises(ValueError, match="iterations must be a non-negative integer, got -1"):
        StopRule().capped(-1)


def test_a_search_whose_rule_has_ended_runs_no_iteration(numpy_source, start_batch):
    """The rule is asked before every iteration: a search continued with its budget spent
    calls neither the database nor the score function again."""
    from emb_opt import StopRule

    runner = Runner(numpy_source, None, TargetScore(), None, TopKDiscreteUpdate(4))
    batch, log = runner.search(start_batch, 2, verbose=False)
    spent, calls = log.counters.score_calls, log.counters.data_source_calls
    rule = StopRule(max_score_calls=spent)
    _, again = runner.search(batch, 5, log=log, verbose=False, stop=rule)
    assert again.counters.iterations == 2 and again.counters.data_source_calls == calls
    assert rule.reason(again) == f"score budget of {spent} calls spent"
