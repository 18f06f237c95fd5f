"""Score models for model-guided screening: kernel ridge ensembles on Nystroem features.

`RandomFeatureEnsemble.fit` maps embeddings through Nystroem features of an RBF kernel
(landmarks drawn from the scored items, the width relative to their median distance) and
fits `heads` ridge heads on bootstrap resamples (the first on all the data): their spread is
the model's uncertainty. Predicting is two float32 matrix products per batch of items, so a
pool of a million items takes seconds. The defaults (width 2, alpha 0.01, rank targets) are
the best of a grid on held-out molecules (`benchmarks/molecules.py`, docs/benchmarks.md); the
guided strategy's `model="auto"` picks width and alpha per search (`model_choice`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KernelFeatures:
    """Nystroem features of an RBF kernel: k(x, landmarks) whitened by k(landmarks)^-1/2."""

    landmarks: np.ndarray  # (m, d) float32
    gamma: float
    whitening: np.ndarray  # (m, r) float32

    @classmethod
    def fit(
        cls, points: np.ndarray, gamma: float, size: int, rng: np.random.Generator
    ) -> KernelFeatures:
        """Features on `size` landmarks drawn from `points`, for the kernel exp(-gamma d^2)."""
        rows = rng.choice(len(points), size, replace=False) if len(points) > size else None
        landmarks = points if rows is None else points[np.sort(rows)]
        values, vectors = np.linalg.eigh(_rbf(landmarks, landmarks, gamma).astype(np.float64))
        keep = values > 1e-6 * values.max()
        whitening = vectors[:, keep] / np.sqrt(values[keep])
        return cls(landmarks.astype(np.float32), gamma, whitening.astype(np.float32))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return _rbf(points, self.landmarks, self.gamma) @ self.whitening


@dataclass(frozen=True)
class RandomFeatureEnsemble:
    """Ridge heads over shared kernel features; `predict` gives (items, heads), higher is
    better (in standardised scores, or standardised rank scores when `ranked`)."""

    features: KernelFeatures
    weights: np.ndarray  # (landmarks, heads) float32: the heads' coefficients, unwhitened
    intercept: np.ndarray  # (heads,)
    ranked: bool = False

    @classmethod
    def fit(
        cls,
        points: np.ndarray,
        scores: np.ndarray,
        rng: np.random.Generator,
        width: float = 2.0,
        alpha: float = 0.01,
        ranked: bool = True,
        features: int = 512,
        heads: int = 8,
    ) -> RandomFeatureEnsemble:
        """Fit to `points` (n, d) and `scores` (n,), seeded by `rng`.

        The kernel is exp(-d^2 / (width x m)^2), m the median distance between the points;
        `ranked` fits normal scores of the ranks instead of the scores (robust to outliers
        and skew: only the order of the best items matters here).
        """
        x = np.asarray(points, dtype=np.float32)
        y = standardised(normal_scores(scores) if ranked else scores)
        gamma = 1.0 / (width * median_distance(x, rng)) ** 2
        mapping = KernelFeatures.fit(x, gamma, features, rng)
        coef, intercept = _bootstrap_heads(mapping(x), y, alpha, heads, rng)
        weights = (mapping.whitening.astype(np.float64) @ coef).astype(np.float32)
        return cls(mapping, weights, intercept, ranked)

    def predict(self, points: np.ndarray) -> np.ndarray:
        """(n, heads) predictions: kernel values at the landmarks times the weights (the
        whitening folded in, so a prediction costs landmarks x heads, not landmarks^2)."""
        kernel = _rbf(points, self.features.landmarks, self.features.gamma)
        return kernel @ self.weights + self.intercept


def _bootstrap_heads(
    phi: np.ndarray, y: np.ndarray, alpha: float, heads: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge heads fitted on bootstrap resamples (the first head on all the data)."""
    fits = [
        ridge_fit(phi, y, (alpha,), None if head == 0 else rng.poisson(1.0, len(y)))[0]
        for head in range(heads)
    ]
    return np.stack([coef for coef, _ in fits], axis=1), np.asarray([b for _, b in fits])


def ridge_fit(
    phi: np.ndarray,
    y: np.ndarray,
    alphas: tuple[float, ...],
    weights: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(coefficients, intercept) of a ridge regression of y (one target, or one per column)
    on the features `phi` for every alpha, rows weighted by `weights` (None: all 1); the
    Gram matrix is worked out once for all alphas."""
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = weights.sum() or 1.0
    x_mean = weights @ phi / total
    y_mean = weights @ y / total
    root = np.sqrt(weights)
    centred = (phi - x_mean) * root[:, None]
    gram = centred.T @ centred
    moment = centred.T @ ((y - y_mean) * (root if y.ndim == 1 else root[:, None]))
    identity = np.eye(phi.shape[1])
    fits = []
    for alpha in alphas:
        coef = np.linalg.solve(gram + alpha * identity, moment)
        fits.append((coef, y_mean - x_mean @ coef))
    return fits


def standardised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (float(values.std()) or 1.0)


def normal_scores(scores: np.ndarray) -> np.ndarray:
    """The normal quantiles of the scores' ranks (ties share a rank)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse = np.unique(scores, return_inverse=True)
    ranks = np.bincount(inverse, ranks)[inverse] / np.bincount(inverse)[inverse]
    return _probit(ranks / (len(scores) + 1))


def _probit(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile function (scipy's ndtri, imported with scikit-learn)."""
    from scipy.special import ndtri

    return np.asarray(ndtri(p))


def _rbf(x: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma |x - y|^2) for every pair, as 2 gamma x.y - gamma |x|^2 - gamma |y|^2
    (at most 0) worked out in place in one float32 array: this is most of a prediction."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    g = np.float32(gamma)
    exponent = x @ (2 * g * y).T
    exponent -= g * np.einsum("ij,ij->i", x, x)[:, None]
    exponent -= g * np.einsum("ij,ij->i", y, y)[None, :]
    np.minimum(exponent, 0, out=exponent)
    return np.exp(exponent, out=exponent)


def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * (x @ y.T)
    return np.maximum(d2, 0, out=d2)


def median_distance(x: np.ndarray, rng: np.random.Generator, sample: int = 256) -> float:
    """Median pairwise distance of (a sample of) the points: the data's length scale."""
    if len(x) > sample:
        x = x[rng.choice(len(x), sample, replace=False)]
    d2 = _squared_distances(x, x)
    upper = d2[np.triu_indices(len(x), 1)]
    median = float(np.sqrt(max(float(np.median(upper)), 0.0))) if upper.size else 1.0
    return median or 1.0
