"""SurrogateUpdate: fit a cheap model to every item scored so far, move queries toward its optimum."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..schemas import Query, UpdateResponse
from .memory import ScoredMemory, scored_results


@dataclass
class _Region:
    """One trajectory's trust region: the best item found, and how far the model is trusted."""

    centre: np.ndarray
    best: float
    radius: float
    stale: int = 0


def _ridge():
    try:
        from sklearn.linear_model import Ridge
    except ImportError:
        from ..errors import missing_dependency

        raise missing_dependency("scikit-learn", "strategies") from None
    return Ridge


def fit_quadratic(
    points: np.ndarray, scores: np.ndarray, centre: np.ndarray, alpha: float
) -> tuple[np.ndarray, float]:
    """Ridge fit of s(x) ~ c + g.z + a |z|^2 / d with z = x - centre; returns (g, a)."""
    z = points - centre
    dimension = points.shape[1]
    features = np.hstack([z, (z * z).sum(axis=1, keepdims=True) / dimension])
    spread = scores.std()
    target = (scores - scores.mean()) / (spread if spread > 0 else 1.0)
    model = _ridge()(alpha=alpha).fit(features, target)
    return model.coef_[:dimension], float(model.coef_[dimension]) / dimension


def model_argmax(g: np.ndarray, a: float, radius: float) -> np.ndarray:
    """Offset from the centre that maximises g.z + a |z|^2 within |z| <= radius."""
    norm = float(np.linalg.norm(g))
    if norm == 0:
        return np.zeros_like(g)
    if a < 0:
        step = -g / (2 * a)
        length = float(np.linalg.norm(step))
        return step if length <= radius else step * (radius / length)
    return g * (radius / norm)


class SurrogateUpdate:
    """Trust-region search on a quadratic surrogate refitted to all items scored so far.

    Per trajectory (the start query's `collection_id`): fit `c + g.z + a|z|^2` by ridge
    regression to the `neighbors` remembered items nearest to the trajectory's best item, and
    query the model's optimum within `radius` of that item, plus `probes` queries scattered
    around it at `probe_scale` times the kNN radius (they feed the model and collect the
    neighbourhood of the optimum). The radius grows by `expand` after an improvement and
    shrinks by `shrink` otherwise.
    """

    def __init__(
        self,
        probes: int = 2,
        probe_scale: float = 1.0,
        neighbors: int | None = 256,
        alpha: float = 1.0,
        expand: float = 2.0,
        shrink: float = 0.5,
        seed: int | None = 0,
    ) -> None:
        if probes < 0:
            raise ValueError(f"probes must be >= 0, got {probes!r}")
        self.probes = probes
        self.probe_scale = probe_scale
        self.neighbors = neighbors
        self.alpha = alpha
        self.expand = expand
        self.shrink = shrink
        self.rng = np.random.default_rng(seed)
        self.memory = ScoredMemory()
        self.regions: dict[object, _Region] = {}

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        self.memory.add_queries(queries)
        groups: dict[object, list[Query]] = {}
        for query in queries:
            groups.setdefault(query.internal.collection_id, []).append(query)
        responses: list[UpdateResponse] = []
        for key, group in groups.items():
            responses += self._advance(key, group)
        return responses

    def _advance(self, key: object, group: list[Query]) -> list[UpdateResponse]:
        scored = [(q, item) for q in group for item in scored_results(q)]
        if not scored:
            return []
        parent, top = max(scored, key=lambda pair: pair[1].score)
        knn_radius = float(
            np.median([np.linalg.norm(i.embedding - q.embedding) for q, i in scored])
        )
        region = self.regions.get(key)
        if region is None:
            region = _Region(top.embedding, float(top.score), knn_radius)
            self.regions[key] = region
        elif top.score > region.best:
            region.centre, region.best, region.stale = top.embedding, float(top.score), 0
            region.radius *= self.expand
        else:
            region.stale += 1
            region.radius = max(region.radius * self.shrink, 1e-3 * knn_radius)
        rows = self.memory.nearest(region.centre, self.neighbors)
        g, a = fit_quadratic(
            self.memory.embeddings[rows], self.memory.scores[rows], region.centre, self.alpha
        )
        target = region.centre + model_argmax(g, a, region.radius)
        proposals = [target] + [
            target + self.probe_scale * knn_radius * self._direction(target.shape[0])
            for _ in range(self.probes)
        ]
        return [
            UpdateResponse(query=Query(embedding=p), parent_id=parent.internal.id)
            for p in proposals
        ]

    def _direction(self, dimension: int) -> np.ndarray:
        vector = self.rng.standard_normal(dimension)
        return vector / np.linalg.norm(vector)
