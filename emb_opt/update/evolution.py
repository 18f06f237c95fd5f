"""EvolutionUpdate: an evolution strategy in embedding space, the retrieved items as population."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..schemas import Query, UpdateResponse
from .memory import ScoredMemory, by_trajectory, knn_radius, scored_results


@dataclass
class _Population:
    """One trajectory's search distribution N(mean, sigma^2 I / d) and its best score."""

    mean: np.ndarray
    sigma: float
    best: float


class EvolutionUpdate:
    """A (mu/mu_w, lambda) evolution strategy whose offspring are the retrieved items.

    Per trajectory, `offspring` queries are drawn around the mean (isotropic Gaussian, step
    size sigma, starting at `sigma` times the kNN radius). Every item they retrieve is a
    candidate; the new mean is the log-rank weighted mean of the best `parents` items of
    the trajectory's current and previous generation (so it sits among real items). Sigma
    grows by `adapt` after a generation that improved the best score and shrinks by it
    otherwise (a success rule). Seeded for determinism.
    """

    def __init__(
        self,
        offspring: int = 3,
        parents: int = 10,
        sigma: float = 0.5,
        adapt: float = 1.5,
        seed: int | None = 0,
    ) -> None:
        if offspring < 1 or parents < 1 or sigma <= 0 or adapt < 1:
            raise ValueError(
                "EvolutionUpdate needs offspring >= 1, parents >= 1, sigma > 0 and adapt >= 1, "
                f"got {offspring!r}, {parents!r}, {sigma!r}, {adapt!r}"
            )
        self.offspring = offspring
        self.parents = parents
        self.sigma = sigma
        self.adapt = adapt
        self.rng = np.random.default_rng(seed)
        self.memory = ScoredMemory()
        self.populations: dict[int | None, _Population] = {}
        self.elites: dict[int | None, np.ndarray] = {}

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        self.memory.add_queries(queries)
        responses: list[UpdateResponse] = []
        for key, group in by_trajectory(queries).items():
            responses += self._generation(key, group)
        return responses

    def _generation(self, key: int | None, group: list[Query]) -> list[UpdateResponse]:
        scored = [(query, item) for query in group for item in scored_results(query)]
        if not scored:
            return []
        parent, top = max(scored, key=lambda pair: pair[1].score)
        rows = np.unique([self.memory.row(item) for _, item in scored])
        candidates = np.union1d(rows, self.elites.get(key, np.empty(0, dtype=np.int64)))
        order = candidates[np.argsort(-self.memory.scores[candidates], kind="stable")]
        elite = order[: self.parents]
        self.elites[key] = elite
        weights = np.log(len(elite) + 0.5) - np.log(np.arange(1, len(elite) + 1))
        mean = np.average(self.memory.embeddings[elite], axis=0, weights=weights)
        population = self.populations.get(key)
        if population is None:
            sigma = self.sigma * (knn_radius(group) or 1.0)
            population = self.populations[key] = _Population(mean, sigma, float(top.score))
        elif top.score > population.best:
            population.best = float(top.score)
            population.sigma *= self.adapt
        else:
            population.sigma /= self.adapt
        population.mean = mean
        dimension = mean.shape[0]
        steps = self.rng.standard_normal((self.offspring, dimension)) / np.sqrt(dimension)
        return [
            UpdateResponse(
                query=Query(embedding=mean + population.sigma * step), parent_id=parent.internal.id
            )
            for step in steps
        ]
