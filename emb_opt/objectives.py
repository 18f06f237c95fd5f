"""Built-in objectives for demos, tests and benchmarks (picklable score functions)."""

from __future__ import annotations

import numpy as np

from .schemas import Item, ScoreResponse


def target_distance_score(
    embeddings: np.ndarray, target: float = 0.75, sigma: float = 5.0
) -> np.ndarray:
    """The original tutorial's objective: a Gaussian bump at (target, ..., target)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    distances = np.linalg.norm(embeddings - target, axis=1) / np.sqrt(embeddings.shape[1])
    return np.exp(-0.5 * (distances / sigma) ** 2)


class TargetScore:
    """ScoreFunction form of `target_distance_score`."""

    def __init__(self, target: float = 0.75, sigma: float = 5.0) -> None:
        self.target = target
        self.sigma = sigma

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        embeddings = np.stack([item.embedding for item in items])
        scores = target_distance_score(embeddings, self.target, self.sigma)
        return [ScoreResponse(valid=True, score=float(score)) for score in scores]
