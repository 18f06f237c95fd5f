"""The executor conformance suite. An executor's test module subclasses it and provides a
factory of executors:

    class TestMyExecutor(ExecutorConformance):
        @pytest.fixture
        def make_executor(self):
            def make(batch_size: int, timeout: float | None) -> Executor:
                return MyExecutor(batch_size=batch_size, timeout=timeout)
            return make

Every check runs the suite's functions (`SUITE_FUNCTIONS`, module-level here: picklable, and
importable by any worker that has emb_opt) and compares with `SerialExecutor` in this
process: the same batches and outputs, the same failures (a raising function fails its
batch only; invalid scores give the same invalid items in a search) and the same deadlines
(a call past `timeout` fails its batch with a `CallTimedOut`; the executor goes on). An
executor that runs functions by name elsewhere (a scoring service) serves
`SUITE_FUNCTIONS` under their names. One that cannot stop a call (serial) sets
`stops_calls = False`: its deadline checks are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, cast

import numpy as np
import pytest

from ..adapters.numpy import NumpyDataSource
from ..calls import coerce_responses
from ..errors import BackendError, CallTimedOut, EmbOptError, SearchAborted
from ..executors import Executor, Outcome, SerialExecutor
from ..objectives import TargetScore
from ..runner import Runner
from ..schemas import Item, ScoreResponse
from ..synthetic import random_corpus
from ..update import TopKDiscreteUpdate
from ..utils import build_batch_from_embeddings

MakeExecutor = Callable[[int, "float | None"], Executor]
STALL = 120.0  # seconds a stalled call sleeps: far past any deadline of the checks
DIMENSION = 8


def cursed_score(items: list[Item]) -> list[ScoreResponse]:
    """The target objective, but a batch holding item 7 raises."""
    if any(item.id == 7 for item in items):
        raise ValueError("item 7 is cursed")
    return TargetScore()(items)


def invalid_scores(items: list[Item]) -> list[Any]:
    """By id, in turn: None, an invalid response, NaN, the target objective's score."""
    invalid = [None, ScoreResponse(valid=False, data={"error": "out of range"}), float("nan")]
    scores = [response.score for response in TargetScore()(items)]
    turns = [cast(int, item.id) % 4 for item in items]  # the suite's ids are integers
    return [score if turn == 3 else invalid[turn] for turn, score in zip(turns, scores)]


def stalled_score(items: list[Item]) -> list[ScoreResponse]:
    """The target objective, but a batch holding item 3 stalls for `STALL` seconds."""
    if any(item.id == 3 for item in items):
        time.sleep(STALL)
    return TargetScore()(items)


def always_stalled_score(items: list[Item]) -> list[ScoreResponse]:
    """Stalls for `STALL` seconds on every batch."""
    time.sleep(STALL)
    return TargetScore()(items)


SUITE_FUNCTIONS: dict[str, Callable[[list[Item]], list[Any]]] = {
    "TargetScore": TargetScore(),
    "cursed_score": cursed_score,
    "invalid_scores": invalid_scores,
    "stalled_score": stalled_score,
    "always_stalled_score": always_stalled_score,
}


def suite_items(n: int = 24) -> list[Item]:
    """`n` items with ids 0..n-1, float32 embeddings and a `rand` metadata field."""
    corpus = random_corpus(n, DIMENSION, seed=11)
    return [
        Item(id=index, item=text, embedding=embedding, data=metadata)
        for index, (text, embedding, metadata) in enumerate(
            zip(corpus.items, corpus.embeddings, corpus.metadata)
        )
    ]


def scored(fn: Any, outcomes: list[Outcome]) -> list[tuple[list[Any], Any]]:
    """Each batch's item ids with its scores (`ScoreResponse`s, whatever form the outputs
    took on the way), or the exception it failed with."""
    return [
        (
            [item.id for item in batch],
            outputs
            if isinstance(outputs, BaseException)
            else coerce_responses("score function", fn, batch, outputs, ScoreResponse),
        )
        for batch, outputs in outcomes
    ]


def assert_same_scores(got: list[ScoreResponse], expected: list[ScoreResponse]) -> None:
    assert [r.valid for r in got] == [r.valid for r in expected]
    assert [r.score for r in got] == pytest.approx([r.score for r in expected], nan_ok=True)


def assert_same_outcomes(
    got: list[tuple[list[Any], Any]], expected: list[tuple[list[Any], Any]]
) -> None:
    """The same batches, each with the same scores (failed batches are compared apart)."""
    assert [ids for ids, _ in got] == [ids for ids, _ in expected]
    for (ids, outputs), (_, serial) in zip(got, expected):
        if not isinstance(serial, BaseException):
            assert not isinstance(outputs, BaseException), f"batch {ids} failed: {outputs!r}"
            assert_same_scores(outputs, serial)


def search_results(executor: Executor) -> list[tuple[Any, ...]]:
    """(id, score, removed, reason) of every item a short search with `invalid_scores` found."""
    corpus = random_corpus(400, DIMENSION, seed=5)
    source = NumpyDataSource(corpus.embeddings, k=6, items=corpus.items, metadata=corpus.metadata)
    start = build_batch_from_embeddings(np.random.default_rng(3).standard_normal((3, DIMENSION)))
    update = TopKDiscreteUpdate(3)
    runner = Runner(source, None, invalid_scores, None, update, executor=executor)
    _, log = runner.search(start, 3, verbose=False)
    rows = log.compile_results(skip_removed=False)
    return sorted((row["id"], row["score"], row["removed"], row["removal_reason"]) for row in rows)


class ExecutorConformance:
    """The checks every executor passes; subclass it and provide `make_executor`."""

    stops_calls: ClassVar[bool] = True  # can it end a call at its deadline?
    timeout: ClassVar[float] = 2.0  # seconds: the deadline of the deadline checks

    @pytest.fixture
    def make_executor(self) -> MakeExecutor:
        """`make(batch_size, timeout)`: a new executor (timeout None: no deadline, or the
        executor's longest)."""
        raise NotImplementedError("provide a make_executor fixture")

    @pytest.fixture
    def new_executor(self, make_executor: MakeExecutor) -> Iterator[MakeExecutor]:
        """`make_executor`, each executor it made closed after the test."""
        made: list[Executor] = []

        def new(batch_size: int, timeout: float | None = None) -> Executor:
            made.append(make_executor(batch_size, timeout))
            return made[-1]

        yield new
        for executor in made:
            executor.close()

    @pytest.fixture(scope="class")
    @classmethod
    def items(cls) -> list[Item]:
        return suite_items()

    def serial(self, fn: Any, items: list[Item], batch_size: int) -> list[tuple[list[Any], Any]]:
        return scored(fn, SerialExecutor(batch_size).run(fn, items))

    def test_outcomes_come_in_input_order_in_batches_of_batch_size(
        self, new_executor, items
    ) -> None:
        fn = SUITE_FUNCTIONS["TargetScore"]
        got = scored(fn, new_executor(5).run(fn, items))
        assert [ids for ids, _ in got] == [list(range(i, min(i + 5, 24))) for i in range(0, 24, 5)]
        assert_same_outcomes(got, self.serial(fn, items, 5))

    def test_no_inputs_no_batches(self, new_executor) -> None:
        assert new_executor(4).run(SUITE_FUNCTIONS["TargetScore"], []) == []

    def test_an_executor_runs_again_after_a_run(self, new_executor, items) -> None:
        fn = SUITE_FUNCTIONS["TargetScore"]
        executor = new_executor(4)
        first = scored(fn, executor.run(fn, items[:10]))
        again = scored(fn, executor.run(fn, items[10:]))
        expected = self.serial(fn, items[:10], 4) + self.serial(fn, items[10:], 4)
        assert_same_outcomes(first + again, expected)

    def test_a_raising_function_fails_its_batch_only(self, new_executor, items) -> None:
        got = scored(cursed_score, new_executor(4).run(cursed_score, items))
        expected = self.serial(cursed_score, items, 4)
        assert_same_outcomes(got, expected)
        failed = [(ids, outputs) for ids, outputs in got if isinstance(outputs, BaseException)]
        assert [ids for ids, _ in failed] == [[4, 5, 6, 7]]
        error = failed[0][1]
        assert isinstance(error, Exception) and "item 7 is cursed" in str(error)
        assert not isinstance(error, CallTimedOut)

    def test_a_search_finds_and_rejects_what_a_serial_search_does(self, new_executor) -> None:
        got = search_results(new_executor(4))
        expected = search_results(SerialExecutor(4))
        assert [row[0] for row in got] == [row[0] for row in expected]  # the same ids
        assert [row[2:] for row in got] == [row[2:] for row in expected]  # the same verdicts
        assert [row[1] for row in got] == pytest.approx([row[1] for row in expected])
        assert any(removed for _, _, removed, _ in got)

    def test_a_call_past_its_deadline_fails_its_batch_and_the_rest_go_on(
        self, new_executor, items
    ) -> None:
        if not self.stops_calls:
            pytest.skip("this executor cannot stop a call: it has no deadline")
        executor = new_executor(2, self.timeout)
        got = scored(stalled_score, executor.run(stalled_score, items[:8]))
        expected = self.serial(TargetScore(), items[:8], 2)
        assert_same_outcomes(got[:1] + got[2:], expected[:1] + expected[2:])
        error = got[1][1]
        assert got[1][0] == [2, 3] and isinstance(error, CallTimedOut), error
        assert isinstance(error, TimeoutError) and isinstance(error, EmbOptError)
        assert not isinstance(error, BackendError)  # a slow scorer, not a database failure
        assert f"timed out after {self.timeout:g} s" in str(error)
        fn = SUITE_FUNCTIONS["TargetScore"]  # the stalled worker, if any, was replaced
        assert_same_outcomes(scored(fn, executor.run(fn, items)), self.serial(fn, items, 2))

    def test_a_search_past_a_deadline_stops_with_its_log(self, new_executor) -> None:
        if not self.stops_calls:
            pytest.skip("this executor cannot stop a call: it has no deadline")
        corpus = random_corpus(100, DIMENSION, seed=5)
        source = NumpyDataSource(corpus.embeddings, k=4, items=corpus.items)
        start = build_batch_from_embeddings(np.zeros((2, DIMENSION)))
        executor = new_executor(1000, self.timeout)
        update = TopKDiscreteUpdate(2)
        runner = Runner(source, None, always_stalled_score, None, update, executor=executor)
        with pytest.raises(SearchAborted, match="CallTimedOut") as aborted:
            runner.search(start, 2, verbose=False)
        assert aborted.value.log is not None
        causes = []
        cause: BaseException | None = aborted.value
        while cause is not None:
            causes.append(cause)
            cause = cause.__cause__
        assert any(isinstance(cause, CallTimedOut) for cause in causes)
