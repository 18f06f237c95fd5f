"""Score models for model-guided screening: random-feature kernel ridge ensembles.

`RandomFeatureEnsemble.fit` maps embeddings through random Fourier features of an RBF kernel
(scikit-learn's `RBFSampler`), picks the kernel width and ridge penalty by leave-one-out
error (`RidgeCV`), and fits `heads` ridge heads on bootstrap resamples; the spread of the
heads is the model's uncertainty. Predicting is one matrix product per batch of items, in
float32, so a pool of a million items is predicted in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import single_threaded

WIDTHS = (0.5, 0.71, 1.0)  # kernel widths tried, in units of the median pairwise distance
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def _sklearn() -> Any:
    try:
                import sklearn.linear_model
    except ImportError:
        from ..errors import missing_dependency

        raise missing_dependency("scikit-learn", "strategies") from None
    return sklearn


@dataclass(frozen=True)
class KernelFeatures:
    """Nystroem features of an RBF kernel: k(x, landmarks) whitened by k(landmarks)^-1/2."""

    landmarks: np.ndarray  # (m, d) float32
    gamma: float
    whitening: np.ndarray  # (m, m) float32

    @classmethod
    def fit(cls, points: np.ndarray, gamma: float, size: int, rng: np.random.Generator) -> KernelFeatures:
        rows = rng.choice(len(points), size, replace=False) if len(points) > size else None
        landmarks = points if rows is None else points[np.sort(rows)]
        gram = _rbf(landmarks, landmarks, gamma).astype(np.float64)
        values, vectors = np.linalg.eigh(gram)
        keep = values > 1e-6 * values.max()
        whitening = vectors[:, keep] / np.sqrt(values[keep])
        return cls(landmarks.astype(np.float32), gamma, whitening.astype(np.float32))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return _rbf(points, self.landmarks, self.gamma) @ self.whitening


def _rbf(x: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * (x @ y.T)
    np.maximum(d2, 0, out=d2)
    return np.exp(-np.float32(gamma) * d2)


@dataclass(frozen=True)
class RandomFeatureEnsemble:
    """Fitted heads over shared kernel features: predict (items, heads) in score units."""

    features: KernelFeatures
    coef: np.ndarray  # (features, heads) float32
    intercept: np.ndarray  # (heads,)

    @classmethod
    def fit(
        cls,
        points: np.ndarray,
        scores: np.ndarray,
        rng: np.random.Generator,
        features: int = 512,
        heads: int = 8,
    ) -> RandomFeatureEnsemble:
        """Fit to `points` (n, d) and `scores` (n,); seeded by `rng`."""
        sklearn = _sklearn()
        x = np.asarray(points, dtype=np.float32)
        mean, spread = float(scores.mean()), float(scores.std()) or 1.0
        y = (scores - mean) / spread
        scale = _median_distance(x, rng)
        best: tuple[float, Any, Any] | None = None
        with single_threaded():
            for width in WIDTHS:
                mapping = KernelFeatures.fit(x, 1.0 / (width * scale) ** 2, features, rng)
                phi = mapping(x)
                model = sklearn.linear_model.RidgeCV(alphas=ALPHAS).fit(phi, y)
                error = -float(model.best_score_)
                if best is None or error < best[0]:
                    best = (error, mapping, model.alpha_)
            assert best is not None
            _, mapping, alpha = best
            coef, intercept = _bootstrap_heads(mapping(x), y, alpha, heads, rng)
        return cls(mapping, (coef * spread).astype(np.float32), intercept * spread + mean)

    def predict(self, points: np.ndarray) -> np.ndarray:
        """(n, heads) predicted scores."""
        return self.features(points) @ self.coef + self.intercept


def _bootstrap_heads(
    phi: np.ndarray, y: np.ndarray, alpha: float, heads: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge heads fitted on bootstrap resamples (the first head on all the data)."""
    n, width = phi.shape
    coefs, intercepts = [], []
    for head in range(heads):
        weights = np.ones(n) if head == 0 else rng.poisson(1.0, n).astype(np.float64)
        total = weights.sum() or 1.0
        x_mean = weights @ phi / total
        y_mean = float(weights @ y / total)
        centred = (phi - x_mean) * np.sqrt(weights)[:, None]
        gram = centred.T @ centred + alpha * np.eye(width)
        coef = np.linalg.solve(gram, centred.T @ ((y - y_mean) * np.sqrt(weights)))
        coefs.append(coef)
        intercepts.append(y_mean - float(x_mean @ coef))
    return np.stack(coefs, axis=1), np.asarray(intercepts)


def _median_distance(x: np.ndarray, rng: np.random.Generator, sample: int = 256) -> float:
    """Median pairwise distance of (a sample of) the points: the data's length scale."""
    if len(x) > sample:
        x = x[rng.choice(len(x), sample, replace=False)]
    squared = (x * x).sum(1)
    d2 = squared[:, None] + squared[None, :] - 2 * x @ x.T
    upper = d2[np.triu_indices(len(x), 1)]
    median = float(np.sqrt(max(float(np.median(upper)), 0.0))) if upper.size else 1.0
    return median or 1.0
