"""Executor fixtures: items to score, a session-wide local Ray, the reference scoring service."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from emb_opt.schemas import Item
from emb_opt.synthetic import random_corpus

SERVICE_PATH = Path(__file__).resolve().parents[2] / "examples" / "scoring_service.py"


@pytest.fixture(scope="session")
def items() -> list[Item]:
    """40 items with ids, float32 embeddings and a `rand` metadata field."""
    corpus = random_corpus(40, 8, seed=11)
    return [
        Item(id=index, item=text, embedding=embedding, data=metadata)
        for index, (text, embedding, metadata) in enumerate(
            zip(corpus.items, corpus.embeddings, corpus.metadata)
        )
    ]


@pytest.fixture(scope="session")
def ray_session():
    """A local two-CPU Ray for the whole session (it takes seconds to start)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
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
