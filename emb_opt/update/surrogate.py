"""SurrogateUpdate: fit a cheap model to the items scored so far, move queries to its optimum."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..schemas import Query, UpdateResponse
from .base import Scored, TrajectoryStrategy, child, knn_radius
from .models import QuadraticModel


@dataclass
class _Region:
    """One trajectory's trust region, its own items and the model it last fitted."""

    centre: np.ndarray
    best: float
    radius: float
    probe_radius: float
    rows: set[int] = field(default_factory=set)
    model: QuadraticModel | None = None


class SurrogateUpdate(TrajectoryStrategy):
    """Trust-region search on a quadratic surrogate refitted every iteration.

    Per trajectory, a `QuadraticModel` (linear plus isotropic curvature, scikit-learn ridge
    with `alpha`) is fitted around the trajectory's best item, to the `neighbors` remembered
    items nearest to it (`share=True`) or only to the trajectory's own items and those inside
    its trust region (`share=False`, for landscapes with many optima). The next queries are
    the model's optimum within the trust radius, plus `probes` queries scattered around it at
    `probe_scale` times the kNN radius: they feed the model and, once the optimum is found,
    collect its neighbourhood (their radius grows by half while they find nothing new). The
    trust radius grows by `expand` when the model predicted the best new item well and
    shrinks by `shrink` (never below the kNN radius) when it did not. Trajectories that
    converged onto the same optimum propose it once (a repeated query would only repeat its
    results).
    """

    STATE_TYPES = (_Region, QuadraticModel)

    def __init__(
        self,
        probes: int = 2,
        probe_scale: float = 0.3,
        neighbors: int | None = 256,
        alpha: float = 0.1,
        expand: float = 2.0,
        shrink: float = 0.5,
        share: bool = True,
        seed: int | None = None,
    ) -> None:
        if probes < 0 or probe_scale <= 0 or alpha < 0:
            raise ValueError(
                "SurrogateUpdate needs probes >= 0, probe_scale > 0 and alpha >= 0, got "
                f"probes={probes!r}, probe_scale={probe_scale!r}, alpha={alpha!r}"
            )
        if neighbors is not None and neighbors < 2:
            raise ValueError(f"neighbors must be at least 2 or None, got {neighbors!r}")
        super().__init__(seed)
        self.probes = probes
        self.probe_scale = probe_scale
        self.neighbors = neighbors
        self.alpha = alpha
        self.expand = expand
        self.shrink = shrink
        self.share = share

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        responses = super().__call__(queries)
        unique = {r.query.embedding.tobytes(): r for r in reversed(responses)}
        return [r for r in responses if unique[r.query.embedding.tobytes()] is r]

    def step(self, key: int | None, scored: list[Scored]) -> list[UpdateResponse]:
        top = max(scored, key=lambda s: s.score)
        radius = knn_radius(scored) or 1.0
        region: _Region | None = self.trajectories.get(key)
        if region is None:
            region = _Region(top.embedding, top.score, radius, self.probe_scale * radius)
            self.trajectories[key] = region
        else:
            self._judge(region, scored, radius)
        if top.score > region.best:
            region.centre, region.best = top.embedding, top.score
        if not self.share:  # only the unshared model fits to the trajectory's own items
            region.rows.update(self.memory.row(s.item) for s in scored)
        rows = self._fit_rows(region)
        region.model = QuadraticModel.fit(
            self.memory.embeddings[rows], self.memory.scores[rows], region.centre, self.alpha
        )
        target = region.model.argmax(region.radius)
        points = [target] + [
            target + region.probe_radius * self._direction(len(target)) for _ in range(self.probes)
        ]
        return [child(point, top) for point in points]

    def _fit_rows(self, region: _Region) -> np.ndarray:
        """Rows the model is fitted to: nearest remembered items, or the trajectory's own."""
        if self.share:
            return self.memory.nearest(region.centre, self.neighbors)
        distances = np.linalg.norm(self.memory.embeddings - region.centre, axis=1)
        inside = set(np.flatnonzero(distances <= region.radius).tolist()) | region.rows
        rows = np.fromiter(sorted(inside), dtype=np.int64)
        if self.neighbors is not None and len(rows) > self.neighbors:
            nearest = np.argsort(distances[rows], kind="stable")[: self.neighbors]
            rows = np.sort(rows[nearest])
        return rows

    def _judge(self, region: _Region, scored: list[Scored], radius: float) -> None:
        """Resize the trust region by how well the last model predicted what came back."""
        new = [s for s in scored if self.memory.row(s.item) >= self.known]
        if not new:
            region.probe_radius *= 1.5
            return
        region.probe_radius = self.probe_scale * radius
        best = max(new, key=lambda s: s.score)
        if region.model is None:
            return
        predicted = float(region.model.predict(best.embedding)[0]) - region.best
        if predicted <= 0:
            return
        ratio = (best.score - region.best) / predicted
        if ratio >= 0.5:
            region.radius *= self.expand
        elif ratio < 0.1:
            region.radius = max(region.radius * self.shrink, radius)

    def _direction(self, dimension: int) -> np.ndarray:
        vector = self.rng.standard_normal(dimension)
        return vector / np.linalg.norm(vector)
