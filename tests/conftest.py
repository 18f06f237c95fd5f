"""Shared fixtures: small seeded corpora and in-process sources."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.register_assert_rewrite("emb_opt.testing")  # a failing conformance check shows its values

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `emb-opt` sets it (not emb_opt's import)

SERVICE_PATH = Path(__file__).resolve().parents[1] / "examples" / "scoring_service.py"


@pytest.fixture(autouse=True)
def _forget_resolved_secrets():
    """Each test masks only the secrets its own configs resolve (`emb_opt.secret_values`):
    a password registered by another would mask that word in this one's messages."""
    yield
    from emb_opt.secret_values import RESOLVED

    RESOLVED.clear()


@pytest.fixture(scope="session")
def corpus():
    from emb_opt.synthetic import random_corpus

    return random_corpus(2000, 16, seed=7)


@pytest.fixture
def numpy_source(corpus):
    from emb_opt.adapters.numpy import NumpyDataSource

    return NumpyDataSource(corpus.embeddings, k=5, items=corpus.items, metadata=corpus.metadata)


@pytest.fixture
def start_batch(corpus):
    from emb_opt.utils import build_batch_from_embeddings

    return build_batch_from_embeddings(np.random.default_rng(3).standard_normal((4, 16)))


@pytest.fixture(scope="session")
def ray_session():
    """A local two-CPU Ray for the whole session (it takes seconds to start): a new one, not
    a cluster another process started on this machine with `ray start`."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def service_module() -> ModuleType:
    """examples/scoring_service.py, imported by path (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("scoring_service", SERVICE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process the engine fixtures started (tests/adapters/engines.py, or
    one of its children such as `milvus run standalone`) outlived their teardown; kill it."""
    engines = sys.modules.get("engines")
    if engines is None:  # no adapter test ran: nothing was started
        return
    left = engines.still_alive()
    if left:
        engines.kill_tracked(left)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"processes started by the tests outlived them: {left}", red=True)
