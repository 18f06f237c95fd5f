"""A pool round's rating: the best unscored rows, ties to the earlier row, in any number of
parts; and the kernel the model predicts with."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.update.pool import InProcessRater, RatingJob, ScoredIds
from emb_opt.update.regressors import _rbf


class Coarse:
    """A stand-in model: two equal heads, the first coordinate rounded to one decimal, so
    many rows tie exactly."""

    weights = np.zeros((1, 2))

    def predict(self, points: np.ndarray) -> np.ndarray:
        value = np.round(np.asarray(points[:, :1], dtype=np.float64), 1)
        return np.hstack([value, value])


ID_KINDS = {"int": lambda r: 7 * r, "str": lambda r: f"id-{r}", "tuple": lambda r: ("row", r)}


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("kind", sorted(ID_KINDS))
def test_the_shortlist_is_the_best_unscored_rows_ties_to_the_earlier(kind, partitions):
    rng = np.random.default_rng(0)
    points = rng.standard_normal((600, 4)).astype(np.float32)
    ids = [ID_KINDS[kind](r) for r in range(600)]
    scored = set(rng.choice(600, 150, replace=False).tolist())
    keys = ScoredIds.from_keys(repr(ids[r]) for r in scored)
    job = RatingJob(Coarse(), "greedy", 1.0, 40, keys, batch_size=16)  # type: ignore[arg-type]
    found = InProcessRater(partitions).shortlist(NumpyDataSource(points, ids=ids), job)
    value = np.round(points[:, 0].astype(np.float64), 1)
    best = sorted((r for r in range(600) if r not in scored), key=lambda r: (-value[r], r))
    assert found.ids == [ids[r] for r in best[:40]]
    assert found.value.tolist() == value[best[:40]].tolist()
    assert found.reads == {1: 38, 3: 3 * 13}[partitions]  # batches of 16 rows read


def test_the_kernel_is_exp_of_minus_gamma_squared_distance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    y = np.concatenate([x[:5], rng.standard_normal((20, 6)).astype(np.float32)])
    expected = np.exp(-0.3 * ((x[:, None, :] - y[None, :, :]).astype(np.float64) ** 2).sum(-1))
    got = _rbf(x, y, 0.3)
    assert got.dtype == np.float32 and got.max() <= 1.0
    assert got == pytest.approx(expected, abs=1e-5)
