"""Serial, thread and process executors: what the conformance suite (test_conformance.py)
does not check: argument checks, imports, a timed-out batch in a search."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from emb_opt import Runner, SearchAborted
from emb_opt.executors import SerialExecutor, ThreadExecutor, split
from emb_opt.objectives import TargetScore
from emb_opt.update import TopKDiscreteUpdate


def test_split_makes_consecutive_batches():
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert split(list(range(7)), None) == [list(range(7))]
    assert split([], 3) == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_batch_size_is_rejected(bad):
    with pytest.raises(ValueError, match="batch_size"):
        SerialExecutor(batch_size=bad)
    with pytest.raises(ValueError, match="batch_size"):
        ThreadExecutor(batch_size=bad)


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
