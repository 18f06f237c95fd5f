"""A pool round rated on Ray equals the same round rated in this process, for every backend
that can scan, each source built as a config builds it (`open_source`), with a filter.

Each Ray task opens its own copy of the source (`opener`): in-process sources travel by
value, database sources connect again (the embedded PostgreSQL's workers at the server the
driver started). Backends that one process at a time can open say so on the driver, before
any task runs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engines import postgres_skip_reason, track, unique

from emb_opt.adapters.spec import SourceSpec
from emb_opt.config.build import open_source
from emb_opt.errors import BackendError
from emb_opt.synthetic import random_corpus
from emb_opt.update import acquisition as acq
from emb_opt.update.pool import InProcessRater, RatingJob, RayRater, ScoredIds
from emb_opt.update.regressors import RandomFeatureEnsemble

pytest.importorskip("ray")
pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

N, DIMENSION, SEED = 3000, 16, 5
FILTER = {"rand": {"$lt": 0.6}}
SHORTLIST = 25
PARTS = 5  # more parts than the session's 2 CPUs: tasks queue

data = functools.partial(random_corpus, N, DIMENSION, SEED)  # picklable: workers call it too


@pytest.fixture(scope="module")
def corpus() -> Any:
    return data()


@pytest.fixture(scope="module")
def job(corpus: Any) -> RatingJob:
    """A model fitted to 200 scored items (excluded from the shortlist), rating by UCB."""
    rng = np.random.default_rng(0)
    scored = rng.choice(N, 200, replace=False)
    points = corpus.embeddings[scored]
    scores = -np.linalg.norm(points - corpus.embeddings[0], axis=1)
    model = RandomFeatureEnsemble.fit(points, scores, rng, features=64, heads=4)
    keys = (repr(int(i)) for i in scored)
    return RatingJob(model, "ucb", 1.0, SHORTLIST, ScoredIds.from_keys(keys), batch_size=256)


def assert_is_the_top(found: Any, corpus: Any, job: RatingJob, tolerance: float = 1e-4) -> None:
    """`found` holds the best-rated matching unscored items of the corpus, best first, to
    within float32 rounding (a prediction's last bits depend on the batch it was made in)."""
    value = acq.values(job.model.predict(corpus.embeddings), job.acquisition, job.beta)
    keep = np.array([row["rand"] < 0.6 for row in corpus.metadata]) & ~job.scored.mask(range(N))
    ids = np.asarray(found.ids)
    assert len(ids) == SHORTLIST and keep[ids].all()
    np.testing.assert_allclose(found.value, value[ids], rtol=tolerance, atol=tolerance)
    assert np.all(np.diff(value[ids]) <= tolerance)  # best first
    left_out = np.setdiff1d(np.flatnonzero(keep), ids)
    assert value[left_out].max() <= value[ids].min() + tolerance  # none better left out


def _qdrant_url() -> str:
    url = os.environ.get("EMB_OPT_QDRANT_URL")
    if not url:
        pytest.skip("no Qdrant server here (not installable); set EMB_OPT_QDRANT_URL to test one")
    return url


def _postgres_dir(request: pytest.FixtureRequest) -> str:
    if reason := postgres_skip_reason():
        pytest.skip(reason)
    return str(request.getfixturevalue("reachable_dir") / "pg")


# backend -> how its `source` block reaches the engine (fixtures are started on demand)
OPENS: dict[str, Callable[[pytest.FixtureRequest, Path], dict[str, Any]]] = {
    "numpy": lambda request, tmp: {},
    "faiss": lambda request, tmp: {"options": {"index": "HNSW16"}},
    "hf": lambda request, tmp: {},
    "lancedb": lambda request, tmp: {"path": str(tmp / "lance")},
    "pgvector": lambda request, tmp: {"path": _postgres_dir(request)},
    "chroma": lambda request, tmp: {"url": request.getfixturevalue("chroma_server").url},
    "chroma-embedded": lambda request, tmp: {"path": str(tmp / "chroma")},
    "milvus": lambda request, tmp: {"url": request.getfixturevalue("milvus_server").uri},
    "qdrant": lambda request, tmp: {"url": _qdrant_url()},
}
ONE_PROCESS = {  # backend -> its `source` block: open in one process at a time
    "qdrant": lambda tmp: {"path": str(tmp / "qdrant")},
    "qdrant-edge": lambda tmp: {"path": str(tmp / "edge")},
    "milvus": lambda tmp: {"path": str(tmp / "lite.db")},
}


def spec(backend: str, rows: Callable[[], Any] = data, **where: Any) -> SourceSpec:
    return SourceSpec(
        backend=backend.removesuffix("-embedded"),
        collection=unique("ray"),
        k=5,
        filter=FILTER,
        data=rows,
        **where,
    )


@pytest.fixture
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The source of the test's backend, built through the config path; closed after."""
    backend = request.param
    where = OPENS[backend](request, tmp_path)
    source = open_source(spec(backend, **where))
    try:
        if backend == "pgvector":  # the embedded server it started: checked at the end
            track(int((Path(where["path"]) / "postmaster.pid").read_text().split()[0]))
        yield source
    finally:
        source.close()


@pytest.mark.parametrize("opened", list(OPENS), indirect=True)
def test_ray_rates_like_this_process(opened: Any, corpus: Any, job: RatingJob) -> None:
    here = InProcessRater(PARTS).shortlist(opened, job)  # the same parts, one after another
    rater = RayRater(workers=2, partitions=PARTS)
    try:
        on_ray = rater.shortlist(opened, job)
    finally:
        rater.close()
    assert len(opened.partitions(PARTS)) == PARTS
    assert on_ray.ids == here.ids
    assert_is_the_top(here, corpus, job)
    np.testing.assert_allclose(on_ray.predictions, here.predictions, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(on_ray.value, here.value, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(on_ray.embeddings, corpus.embeddings[here.ids], atol=1e-6)
    assert on_ray.reads == here.reads >= PARTS  # the same batches, each part read


@pytest.mark.parametrize("backend", list(ONE_PROCESS))
def test_a_backend_open_in_one_process_refuses_ray_on_the_driver(
    backend: str, tmp_path: Path, job: RatingJob
) -> None:
    few = functools.partial(random_corpus, 300, DIMENSION, SEED)  # Qdrant local loads slowly
    source = open_source(spec(backend, few, **ONE_PROCESS[backend](tmp_path)))
    rater = RayRater(workers=2, partitions=PARTS)
    try:
        with pytest.raises(BackendError) as refused:
            rater.shortlist(source, job)
        assert InProcessRater(partitions=PARTS).shortlist(source, job).ids  # here it rates
    finally:
        rater.close()
        source.close()
    message = str(refused.value)
    assert "\n" not in message
    assert "one process at a time" in message and "rating: {executor: local}" in message
    assert "server (source.url)" in message


def test_a_database_source_built_directly_says_how_to_reopen_it(tmp_path: Path) -> None:
    import lancedb

    from emb_opt.adapters.lancedb import LanceDataSource

    source = open_source(spec("lancedb", path=str(tmp_path / "lance")))
    direct = LanceDataSource(lancedb.connect(tmp_path / "lance"), source.collection_name)
    with pytest.raises(BackendError, match=r"not built from a source block.*set_opener"):
        direct.opener()
    direct.set_opener(source.opener())
    assert direct.opener() is source.opener()


def test_a_config_rating_on_ray_fails_when_built_over_a_one_process_backend(tmp_path: Path):
    from emb_opt.config import build_run, validate

    config = validate(
        {
            "source": {
                "backend": "qdrant-edge",
                "path": str(tmp_path / "edge"),
                "k": 5,
                "data": {"kind": "synthetic", "n": 300, "dim": 8},
            },
            "score": {"function": "target"},
            "strategy": {"update": {"name": "guided", "rating": {"executor": "ray"}}},
            "start": {"random": 4},
            "stop": {"iterations": 2},
        }
    )
    with pytest.raises(BackendError, match=r"Qdrant Edge .* one process at a time"):
        build_run(config)
