"""Errors sit where a user catches them: a slow scorer is a timeout, not a database failure,
and a stopped search is not a plugin's error."""

from __future__ import annotations

import threading

import pytest

from emb_opt import (
    BackendError,
    CallTimedOut,
    EmbOptError,
    PluginError,
    Runner,
    SearchAborted,
)
from emb_opt.executors import ThreadExecutor
from emb_opt.objectives import TargetScore
from emb_opt.update import TopKDiscreteUpdate

RELEASE = threading.Event()


def stuck(items):
    RELEASE.wait()
    return TargetScore()(items)


def test_a_call_past_its_deadline_is_a_timeout_not_a_database_failure():
    RELEASE.clear()
    try:
        with ThreadExecutor(batch_size=2, timeout=0.5) as executor:
            [(_, error)] = executor.run(stuck, [1, 2])
    finally:
        RELEASE.set()
    assert isinstance(error, CallTimedOut)
    assert isinstance(error, TimeoutError) and isinstance(error, EmbOptError)
    assert not isinstance(error, ConnectionError)
    assert not isinstance(error, BackendError)


def test_a_stopped_search_is_caught_as_such_not_as_a_plugin_error(numpy_source, start_batch):
    RELEASE.clear()
    executor = ThreadExecutor(batch_size=100, timeout=0.5)
    runner = Runner(numpy_source, None, stuck, None, TopKDiscreteUpdate(4), executor=executor)
    try:
        with pytest.raises(SearchAborted) as aborted:
            runner.search(start_batch, 2, verbose=False)
    finally:
        RELEASE.set()
    assert isinstance(aborted.value, EmbOptError) and isinstance(aborted.value, RuntimeError)
    assert not isinstance(aborted.value, PluginError)
    assert isinstance(aborted.value.__cause__.__cause__, CallTimedOut)
