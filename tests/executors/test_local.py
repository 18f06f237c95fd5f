"""Serial, thread and process executors: order, batch sizes, exceptions kept per batch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emb_opt import Runner
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
