"""Pool rounds rated on a local Ray cluster: the same searches as in process, a killed worker
changes nothing, budgets and resume hold, and `executor: ray` turns it on from a config."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.config import build_run, validate
from emb_opt.errors import BackendError
from emb_opt.log import SearchLog, load_log, save_log
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.update import GuidedUpdate
from emb_opt.update.pool import InProcessRater, RatingJob, RayRater, ScoredIds
from emb_opt.update.regressors import RandomFeatureEnsemble
from emb_opt.utils import build_batch_from_items

ray = pytest.importorskip("ray")
# Ray workers cannot import this test module: ship its classes by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

N, DIM, BUDGET = 4000, 16, 260


class DiesOnce(NumpyDataSource):
    """A numpy source whose worker process is SIGKILLed the first time it scans part 2."""

    def __init__(self, embeddings: np.ndarray, marker: Path, driver: int, **options) -> None:
        super().__init__(embeddings, **options)
        self.marker, self.driver = marker, driver

    def _scan(self, batch_size, bounds=None):
        for number, hits in enumerate(super()._scan(batch_size, bounds)):
            killing = bounds is not None and bounds[0] > 0 and os.getpid() != self.driver
            if killing and number == 1 and not self.marker.exists():
                self.marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            yield hits


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return np.random.default_rng(5).standard_normal((N, DIM)).astype(np.float32)


def source_of(points) -> NumpyDataSource:
    metadata = [{"n": i % 3} for i in range(len(points))]
    return NumpyDataSource(points, k=5, metadata=metadata, filter={"n": {"$ne": 1}})


def test_a_worker_killed_mid_round_changes_nothing(ray_session, points, tmp_path):
    marker = tmp_path / "killed"
    source = DiesOnce(points, marker, os.getpid(), k=5, metadata=[{"n": i % 3} for i in range(N)])
    model = RandomFeatureEnsemble.fit(points[:100], points[:100, 0], np.random.default_rng(2))
    job = RatingJob(model, "ucb", 1.0, 200, ScoredIds.from_keys(map(repr, range(0, 300, 2))), 256)
    rater = RayRater(partitions=4, max_retries=2)
    found = rater.shortlist(source, job)
    assert marker.exists(), "no worker was killed: the test proves nothing"
    expected = InProcessRater(4).shortlist(source, job)
    assert found.ids == expected.ids
    np.testing.assert_allclose(found.predictions, expected.predictions, rtol=1e-5)
    assert found.reads >= expected.reads  # the killed part was read again, and counted once
    assert len(set(found.ids)) == len(found.ids)


def guided(rating) -> GuidedUpdate:
    return GuidedUpdate(batch=30, initial=40, mode="pool", features=64, rating=rating)


def search(source, rating, iterations, log=None):
    runner = Runner(source, None, TargetScore(), None, guided(rating), seed=3)
    batch = None if log is not None else build_batch_from_items(source.sample(4, seed=7))
    stop = StopRule(max_score_calls=BUDGET)
    return runner.search(batch, iterations, log=log, verbose=False, stop=stop)[1]


def fingerprint(log: SearchLog) -> tuple:
    return [(r["id"], r["score"]) for r in log.compile_results()], log.counters


def test_a_search_rated_on_ray_equals_one_rated_in_process(ray_session, points):
    source = source_of(points)
    on_ray = search(source, {"executor": "ray", "partitions": 3}, 12)
    in_process = search(source, {"executor": "local", "partitions": 3}, 12)
    assert fingerprint(on_ray) == fingerprint(in_process)
    assert on_ray.counters.score_calls == BUDGET
    assert ray_session.is_initialized()  # the rater leaves a Ray it did not start running


def test_a_resumed_search_rated_on_ray_equals_the_uninterrupted_one(ray_session, points, tmp_path):
    source = source_of(points)
    rating = {"executor": "ray", "partitions": 2}
    straight = search(source, rating, 12)
    first = search(source, rating, 4)
    save_log(first, tmp_path / "log")
    resumed = search(source, rating, 8, log=load_log(tmp_path / "log"))
    assert fingerprint(resumed) == fingerprint(straight)


def test_executor_ray_rates_pool_rounds_on_ray_too(ray_session):
    config = validate(
        {
            "source": {
                "backend": "numpy",
                "k": 5,
                "data": {"kind": "synthetic", "n": 1500, "dim": 8, "seed": 0},
            },
            "score": {"function": "target"},
            "strategy": {"update": {"name": "guided", "mode": "pool", "initial": 20}},
            "executor": {"kind": "ray"},
            "start": {"random": 4, "seed": 1},
            "stop": {"iterations": 6, "max_score_calls": 80},
        }
    )
    run = build_run(config)
    try:
        assert isinstance(run.runner.update_function.rating, RayRater)
        _, log = run.runner.search(run.start_batch(), 6, verbose=False, stop=run.stop)
    finally:
        run.close()
    assert log.counters.score_calls == 80
    assert ray_session.is_initialized()


class BrokenScan(NumpyDataSource):
    """A numpy source whose scan fails in the worker, as a lost database would."""

    def _scan(self, batch_size, bounds=None):
        raise ConnectionError("database went away\nsecond line")
        yield  # a generator, like the real scan


def test_a_failing_part_stops_the_round_with_one_line(ray_session, points):
    source = BrokenScan(points, k=5)
    model = RandomFeatureEnsemble.fit(points[:50], points[:50, 0], np.random.default_rng(0))
    job = RatingJob(model, "greedy", 1.0, 20, ScoredIds.from_keys([]))
    with pytest.raises(BackendError, match=r"^a Ray rating task failed: .*second line$"):
        RayRater(partitions=3).shortlist(source, job)
