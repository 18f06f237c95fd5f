"""EvolutionUpdate: an evolution strategy in embedding space, the retrieved items as population."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..schemas import UpdateResponse
from .base import Scored, TrajectoryStrategy, child, knn_radius


@dataclass
class _Population:
    """One trajectory's search distribution N(mean, sigma^2 I / d), best score and elite rows."""

    mean: np.ndarray
    sigma: float
    best: float
    elite: np.ndarray


class EvolutionUpdate(TrajectoryStrategy):
    """A (mu/mu_w, lambda) evolution strategy whose offspring are the retrieved items.

    Per trajectory, `offspring` queries are drawn around the mean (isotropic Gaussian, step
    size sigma, starting at `sigma` times the kNN radius). Every item they retrieve is a
    candidate; the new mean is the log-rank weighted mean of the best `parents` items of
    the trajectory's current and previous generation (so it sits among real items). Sigma
    grows by `adapt` after a generation that improved the best score and shrinks by it
    otherwise (a success rule). Seeded for determinism.
    """

    STATE_TYPES = (_Population,)

    def __init__(
        self,
        offspring: int = 3,
        parents: int = 10,
        sigma: float = 0.5,
        adapt: float = 1.5,
        seed: int | None = None,
    ) -> None:
        if offspring < 1 or parents < 1 or sigma <= 0 or adapt < 1:
            raise ValueError(
                "EvolutionUpdate needs offspring >= 1, parents >= 1, sigma > 0 and adapt >= 1, "
                f"got {offspring!r}, {parents!r}, {sigma!r}, {adapt!r}"
            )
        super().__init__(seed)
        self.offspring = offspring
        self.parents = parents
        self.sigma = sigma
        self.adapt = adapt

    def step(self, key: int | None, scored: list[Scored]) -> list[UpdateResponse]:
        top = max(scored, key=lambda s: s.score)
        population: _Population | None = self.trajectories.get(key)
        rows = np.unique([self.memory.row(s.item) for s in scored])
        if population is not None:
            rows = np.union1d(rows, population.elite)
        order = rows[np.argsort(-self.memory.scores[rows], kind="stable")]
        elite = order[: self.parents]
        weights = np.log(len(elite) + 0.5) - np.log(np.arange(1, len(elite) + 1))
        mean = np.average(self.memory.embeddings[elite], axis=0, weights=weights)
        if population is None:
            sigma = self.sigma * (knn_radius(scored) or 1.0)
            population = self.trajectories[key] = _Population(mean, sigma, top.score, elite)
        elif top.score > population.best:
            population.best = top.score
            population.sigma *= self.adapt
        else:
            population.sigma /= self.adapt
        population.mean, population.elite = mean, elite
        dimension = mean.shape[0]
        steps = self.rng.standard_normal((self.offspring, dimension)) / np.sqrt(dimension)
        return [child(mean + population.sigma * step, top) for step in steps]
