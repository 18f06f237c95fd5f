"""Serial, thread and process executors: order, batch sizes, exceptions kept per batch."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from emb_opt import CallTimedOut, Runner, SearchAborted
from emb_opt.executors import ProcessExecutor, SerialExecutor, ThreadExecutor, split
from emb_opt.objectives import TargetScore
from emb_opt.update import TopKDiscreteUpdate


def double(batch: list[int]) -> list[int]:
    return [2 * x for x in batch]


def fail_on_five(batch: list[int]) -> list[int]:
    if 5 in batch:
        raise ValueError("five is not allowed")
    return double(batch)


LOCAL = {
    "serial": lambda size: SerialExecutor(batch_size=size),
    "threads": lambda size: ThreadExecutor(batch_size=size, max_workers=3),
    "processes": lambda size: ProcessExecutor(batch_size=size, max_workers=2),
}


@pytest.fixture(params=sorted(LOCAL))
def make_executor(request):
    made = []

    def make(size: int | None):
        made.append(LOCAL[request.param](size))
        return made[-1]

    yield make
    for executor in made:
        executor.close()


def test_split_makes_consecutive_batches():
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert split(list(range(7)), None) == [list(range(7))]
    assert split([], 3) == []


def test_outcomes_come_back_in_input_order_in_batches_of_batch_size(make_executor):
    outcomes = make_executor(3).run(double, list(range(10)))
    assert [batch for batch, _ in outcomes] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [y for _, out in outcomes for y in out] == [2 * x for x in range(10)]


def test_an_exception_is_kept_with_its_batch_only(make_executor):
    outcomes = make_executor(4).run(fail_on_five, list(range(10)))
    assert isinstance(outcomes[1][1], ValueError) and outcomes[1][0] == [4, 5, 6, 7]
    assert outcomes[0][1] == [0, 2, 4, 6] and outcomes[2][1] == [16, 18]


def test_no_inputs_no_batches(make_executor):
    assert make_executor(2).run(double, []) == []


def test_executor_is_reusable_across_runs(make_executor):
    executor = make_executor(2)
    assert executor.run(double, [1, 2, 3])[1][1] == [6]
    assert executor.run(double, [4])[0][1] == [8]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_batch_size_is_rejected(bad):
    with pytest.raises(ValueError, match="batch_size"):
        SerialExecutor(batch_size=bad)
    with pytest.raises(ValueError, match="batch_size"):
        ThreadExecutor(batch_size=bad)


def test_threaded_search_matches_serial_search(numpy_source, start_batch):
    def search(executor):
        runner = Runner(
            numpy_source, None, TargetScore(), None, TopKDiscreteUpdate(4), executor=executor
        )
        _, log = runner.search(start_batch.model_copy(deep=True), 3, verbose=False)
        return {row["id"]: row["score"] for row in log.compile_results()}

    with ThreadExecutor(batch_size=3) as threads:
        threaded = search(threads)
    assert len(threaded) > 10 and threaded == search(SerialExecutor())


def test_importing_executors_imports_neither_ray_nor_httpx():
    code = "import sys, emb_opt.executors; print('ray' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("module", "extra", "make"),
    [
        ("ray", "ray", lambda ex: ex.RayExecutor()),
        ("httpx", "http", lambda ex: ex.HTTPExecutor("http://localhost:1/score")),
    ],
)
def test_a_missing_engine_names_the_extra(monkeypatch, module, extra, make):
    import emb_opt.executors as executors

    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=rf'pip install -e "\.\[{extra}\]"'):
        make(executors)


RELEASE = threading.Event()  # set at the end of a test so its stuck threads finish


def stuck_on_three(batch: list[int]) -> list[int]:
    """Never returns for a batch holding 3 (until RELEASE, in this process)."""
    if 3 in batch:
        RELEASE.wait()
    return double(batch)


def sleep_on_three(batch: list[int]) -> list[int]:
    """Hangs for an hour on a batch holding 3 (in a worker process it is killed first)."""
    if 3 in batch:
        time.sleep(3600)
    return double(batch)


@pytest.mark.parametrize(
    ("make", "fn"),
    [
        (lambda: ThreadExecutor(batch_size=2, max_workers=2, timeout=1), stuck_on_three),
        (lambda: ProcessExecutor(batch_size=2, max_workers=2, timeout=1), sleep_on_three),
    ],
    ids=["threads", "processes"],
)
def test_a_stuck_call_fails_its_batch_at_the_deadline_and_the_rest_go_on(make, fn):
    RELEASE.clear()
    try:
        with make() as executor:
            outcomes = executor.run(fn, list(range(10)))
            error = outcomes[1][1]
            assert isinstance(error, CallTimedOut) and isinstance(error, TimeoutError)
            assert "timed out after 1 s" in str(error)
            assert [out for _, out in outcomes[:1] + outcomes[2:]] == [
                [0, 2],
                [8, 10],
                [12, 14],
                [16, 18],
            ]
            assert executor.run(double, [7, 8, 9])[1][1] == [18]  # a stuck worker was replaced
    finally:
        RELEASE.set()


def test_a_timed_out_batch_is_invalid_with_the_reason_or_aborts(numpy_source, start_batch):
    calls: list[int] = []

    def hang_on_first_call(items):
        calls.append(1)
        if len(calls) == 1:
            RELEASE.wait()
        return TargetScore()(items)

    def runner(on_error):
        executor = ThreadExecutor(batch_size=100, timeout=0.5)
        score, update = hang_on_first_call, TopKDiscreteUpdate(4)
        return Runner(numpy_source, None, score, None, update, executor=executor, on_error=on_error)

    RELEASE.clear()
    try:
        _, log = runner("invalidate").search(start_batch.model_copy(deep=True), 2, verbose=False)
        failed = [r for r in log.compile_results(skip_removed=False) if r["removed"]]
        assert failed and all("timed out after 0.5 s" in r["removal_reason"] for r in failed)
        calls.clear()
        with pytest.raises(SearchAborted, match=r"CallTimedOut: timed out after 0\.5 s") as aborted:
            runner("raise").search(start_batch.model_copy(deep=True), 2, verbose=False)
        assert aborted.value.log is not None
    finally:
        RELEASE.set()
