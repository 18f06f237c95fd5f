"""Serial, threads, processes, Ray (actors and tasks) and HTTP pass the executor
conformance suite: the same outcomes, failures and deadlines."""

from __future__ import annotations

import pytest

from emb_opt.executors import (
    HTTPExecutor,
    ProcessExecutor,
    RayExecutor,
    SerialExecutor,
    ThreadExecutor,
)
from emb_opt.testing import SUITE_FUNCTIONS, ExecutorConformance


class TestSerial(ExecutorConformance):
    stops_calls = False

    @pytest.fixture
    def make_executor(self):
        return lambda batch_size, timeout: SerialExecutor(batch_size)


class TestThreads(ExecutorConformance):
    @pytest.fixture
    def make_executor(self):
        return lambda batch_size, timeout: ThreadExecutor(batch_size, 3, timeout)


class TestProcesses(ExecutorConformance):
    @pytest.fixture
    def make_executor(self):
        return lambda batch_size, timeout: ProcessExecutor(batch_size, 2, timeout=timeout)


@pytest.mark.slow  # starts Ray
class TestRayActors(ExecutorConformance):
    mode = "actors"

    @pytest.fixture
    def make_executor(self, ray_session):
        """Two actors holding half the session's two CPUs."""

        def make(batch_size, timeout):
            options = {"num_actors": 2, "num_cpus": 0.5, "mode": self.mode}
            return RayExecutor(batch_size=batch_size, timeout=timeout, **options)

        return make


class TestRayTasks(TestRayActors):
    mode = "tasks"


class TestHTTP(ExecutorConformance):
    @pytest.fixture
    def make_executor(self, service_module):
        """An executor posting to the reference scoring service, serving the suite's
        functions (one attempt: a retry would double the deadline)."""
        pytest.importorskip("httpx")
        with service_module.ScoringServer(SUITE_FUNCTIONS) as server:
            yield lambda batch_size, timeout: HTTPExecutor(
                server.url, batch_size=batch_size, timeout=timeout or 30, retries=0
            )
