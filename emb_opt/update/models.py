"""Cheap score models fitted with scikit-learn: a linear gradient and a quadratic surrogate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np


@cache
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController  # installed with scikit-learn

    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS on one thread: for these small fits, extra threads cost more than they save."""
    with _controller().limit(limits=1, user_api="blas"):
        yield


def ridge(alpha: float) -> Any:
    """A scikit-learn Ridge regressor (the strategies that fit models need scikit-learn)."""
    try:
        from sklearn.linear_model import Ridge
    except ImportError:
        from ..errors import missing_dependency

        raise missing_dependency("scikit-learn", "strategies") from None
    return Ridge(alpha=alpha)


def _standardised(scores: np.ndarray) -> tuple[np.ndarray, float, float]:
    mean, spread = float(scores.mean()), float(scores.std())
    spread = spread if spread > 0 else 1.0
    return (scores - mean) / spread, mean, spread


def linear_direction(
    points: np.ndarray, scores: np.ndarray, centre: np.ndarray, alpha: float
) -> np.ndarray | None:
    """Unit direction of steepest ascent of a ridge linear fit around `centre` (None if flat)."""
    if len(scores) < 2 or scores.std() == 0:
        return None
    target, _, _ = _standardised(scores)
    model = ridge(alpha)
    with single_threaded():
        gradient = model.fit(points - centre, target).coef_
    norm = float(np.linalg.norm(gradient))
    return gradient / norm if norm > 0 else None


@dataclass(frozen=True)
class QuadraticModel:
    """t(s(x)) ~ c + g.z + a |z|^2 with z = x - centre: linear plus isotropic curvature.

    t is log when every score is positive (a Gaussian bump is then exactly quadratic, and a
    sum of bumps nearly so near one of them), the identity otherwise.
    """

    centre: np.ndarray
    g: np.ndarray
    a: float
    c: float
    log: bool = False

    @classmethod
    def fit(
        cls, points: np.ndarray, scores: np.ndarray, centre: np.ndarray, alpha: float
    ) -> QuadraticModel:
        """Ridge fit on standardised t(scores), curvature on |z|^2 / d so features are O(1)."""
        log = bool((scores > 0).all())
        scores = np.log(scores) if log else scores
        z = points - centre
        dimension = points.shape[1]
        features = np.hstack([z, (z * z).sum(axis=1, keepdims=True) / dimension])
        target, mean, spread = _standardised(scores)
        fitted = ridge(alpha)
        with single_threaded():
            fitted.fit(features, target)
        coef = fitted.coef_ * spread
        return cls(
            centre,
            coef[:dimension],
            float(coef[dimension]) / dimension,
            float(fitted.intercept_) * spread + mean,
            log,
        )

    def predict(self, points: np.ndarray) -> np.ndarray:
        """Predicted scores (in score units)."""
        z = np.atleast_2d(points) - self.centre
        value = self.c + z @ self.g + self.a * (z * z).sum(axis=1)
        return np.exp(value) if self.log else value

    def argmax(self, radius: float) -> np.ndarray:
        """The point within `radius` of the centre where the model is highest.

        With negative curvature the model's optimum, pulled back onto the ball if outside (the
        nearest point of the ball to an isotropic optimum is the ball's best point); otherwise
        a full step along the gradient.
        """
        norm = float(np.linalg.norm(self.g))
        if norm == 0:
            return self.centre.copy()
        if self.a < 0:
            step = -self.g / (2 * self.a)
            length = float(np.linalg.norm(step))
            return self.centre + (step if length <= radius else step * (radius / length))
        return self.centre + self.g * (radius / norm)
