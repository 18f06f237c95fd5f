"""Pool rounds rated on a local two-CPU Ray: the same shortlist as in this process, from a
memory-mapped file that each task maps again by its path."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.update.pool import InProcessRater, RatingJob, RayRater, ScoredIds
from emb_opt.update.regressors import RandomFeatureEnsemble

pytest.importorskip("ray")
pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]  # starts Ray


def test_a_memory_mapped_pool_rated_on_ray_matches_in_process(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "items.npy", rng.standard_normal((3000, 8)).astype(np.float32))
    source = NumpyDataSource(np.load(tmp_path / "items.npy", mmap_mode="r"))
    scored = rng.choice(3000, 200, replace=False)
    points = np.asarray(source.embeddings[np.sort(scored)])
    model = RandomFeatureEnsemble.fit(points, -np.abs(points).sum(1), rng, features=32, heads=4)
    keys = ScoredIds.from_keys(repr(int(i)) for i in scored)
    job = RatingJob(model, "ucb", 1.0, 25, keys, batch_size=128)
    rater = RayRater(workers=2, partitions=5)
    try:
        on_ray = rater.shortlist(source, job)
    finally:
        rater.close()
    here = InProcessRater().shortlist(source, job)
    assert on_ray.ids == here.ids and not set(here.ids) & set(scored.tolist())
    assert on_ray.value == pytest.approx(here.value, abs=1e-5)
    assert on_ray.reads == 5 * 5  # five parts of 600 rows, five batches each
