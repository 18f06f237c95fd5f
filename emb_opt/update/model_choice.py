"""Choose the score model's kernel width and ridge alpha per search, by held-out top-k precision.

Objectives differ in how rough they are over the embedding: a smooth one wants a wide kernel,
a rough or noisy one a narrow kernel or a stronger ridge. `choose` tries every pair of a
small grid with k-fold cross-validation on the items scored so far and keeps the one whose
out-of-fold predictions put the most of the true top 5, 10 and 20% in their own (top-k
precision: what screening needs, not squared error); the fixed model stays unless another is
clearly better. One feature map per width and one Gram matrix per fold keep it cheap: about a
second for 2,000 scored items, and never more than for `SAMPLE`. Each choice is logged at
INFO (`emb_opt.update.model_choice`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .regressors import KernelFeatures, median_distance, normal_scores, ridge_fit, standardised

WIDTHS = (1.0, 2.0, 4.0)
ALPHAS = (0.01, 0.3)
FOLDS = 4
REPEATS = 2  # fold splits, to steady the estimate
TOPS = (0.05, 0.1, 0.2)  # the shares of the scored items whose recovery is measured
MARGIN = 0.02  # another model replaces the default only when its precision is this much higher
SAMPLE = 4000  # more scored items than this: choose on a random sample of them

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """The chosen kernel width and ridge alpha, with the precision they reached."""

    width: float
    alpha: float
    precision: float
    scored: int  # the scored items it was chosen on


FIXED = Choice(width=2.0, alpha=0.01, precision=float("nan"), scored=0)


def choose(
    points: np.ndarray,
    scores: np.ndarray,
    rng: np.random.Generator,
    features: int = 512,
    widths: tuple[float, ...] = WIDTHS,
    alphas: tuple[float, ...] = ALPHAS,
) -> Choice:
    """The (width, alpha) whose out-of-fold predictions (fitted to rank scores, as the model
    is) best recover the top of the scored items: the default (`FIXED`) unless another is
    better by `MARGIN` (ties: the earlier of the grid)."""
    x = np.asarray(points, dtype=np.float32)
    if len(x) > SAMPLE:
        rows = rng.choice(len(x), SAMPLE, replace=False)
        x, scores = x[rows], scores[rows]
    target = standardised(normal_scores(scores))
    splits = [rng.permutation(len(x)) % FOLDS for _ in range(REPEATS)]
    truth = np.argsort(-scores, kind="stable")
    scale = median_distance(x, rng)
    found: dict[tuple[float, float], float] = {}
    for width in widths:
        phi = KernelFeatures.fit(x, 1.0 / (width * scale) ** 2, features, rng)(x)
        for fold in splits:
            predicted = np.empty((len(alphas), len(x)))
            for f in range(FOLDS):
                train, test = fold != f, fold == f
                fits = ridge_fit(phi[train], target[train], alphas)
                for a, (coef, intercept) in enumerate(fits):
                    predicted[a, test] = phi[test] @ coef + intercept
            for alpha, guess in zip(alphas, predicted):
                share = precision(guess, truth) / len(splits)
                found[(width, alpha)] = found.get((width, alpha), 0.0) + share
    best = max(found, key=found.__getitem__)
    default = (FIXED.width, FIXED.alpha)
    if default in found and found[best] < found[default] + MARGIN:
        best = default
    choice = Choice(*best, precision=found[best], scored=len(points))
    logger.info(
        "guided: model width %g, alpha %g (held-out top-k precision %.2f on %d scored items)",
        choice.width,
        choice.alpha,
        choice.precision,
        choice.scored,
    )
    return choice


def precision(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Top-k precision of `predicted` against the order `truth`, averaged over k in `TOPS`."""
    order = np.argsort(-predicted, kind="stable")
    shares = []
    for top in TOPS:
        k = max(1, int(top * len(truth)))
        shares.append(len(np.intersect1d(order[:k], truth[:k])) / k)
    return float(np.mean(shares))
