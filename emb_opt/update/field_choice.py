"""Choose which stored fields the guided model reads, by held-out top-k precision.

A collection often stores numbers beside its vectors (descriptors, a price, a lab's earlier
measurement), and some of them predict the score far better than the vector does; others
carry nothing (a batch number, a random id). `candidates` keeps the fields a model can read:
numbers and fixed-length lists of numbers, held by most items, not constant, not an id.
`choose` ranks them by how much of the scored items' (rank) scores each predicts on its own,
out of fold, then tries the embedding alone and with the 1, 2, ... best-ranked fields, each by
the k-fold top-k precision `model_choice` uses; the embedding alone stays unless a set of
fields is clearly better. Each choice is logged at INFO (`emb_opt.update.field_choice`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..protocols import StoredField
from .inputs import ModelInputs
from .model_choice import FOLDS, REPEATS, precision
from .regressors import KernelFeatures, median_distance, normal_scores, ridge_fit, standardised

MIN_SCORED = 50  # fewer scored items than this: the model reads no stored field yet
MIN_PRESENT = 0.5  # a field held by fewer of the sampled items is not a candidate
MARGIN = 0.01  # fields are read only when they raise the held-out precision this much
PATIENCE = 3  # stop adding fields after this many that do not raise the best precision
SAMPLE = 2000  # more scored items than this: choose on a random sample of them
FEATURES = 256  # kernel features of the models compared (the ranking, not the fit, matters)
BINS = 8  # quantile bins per column when ranking a field on its own
ID_NAME = re.compile(r"(^|_)(id|ids|uuid|key|index|idx)$|[a-z]Id$", re.IGNORECASE)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldChoice:
    """The fields the model reads, with the held-out precision they reached and the
    embedding's alone."""

    fields: tuple[str, ...]
    precision: float
    without: float  # the embedding alone
    scored: int  # the scored items it was chosen on

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))  # a list, read from a checkpoint

    def describe(self) -> str:
        """E.g. "mw, logp (held-out top-k precision 0.61; embedding alone 0.44; 1,200 scored)"."""
        read = ", ".join(self.fields) or "no stored field"
        return (
            f"{read} (held-out top-k precision {self.precision:.2f}; embedding alone "
            f"{self.without:.2f}; {self.scored:,} scored)"
        )


def candidates(stored: Sequence[StoredField]) -> tuple[str, ...]:
    """The stored fields a model can read: numbers or fixed-length lists of numbers, held
    by at least `MIN_PRESENT` of the items, not constant, not an id."""
    return tuple(
        field.name
        for field in stored
        if field.kind in ("number", "vector")
        and field.width > 0
        and field.present >= MIN_PRESENT
        and field.distinct > 1
        and not _is_id(field)
    )


def _is_id(field: StoredField) -> bool:
    """A number named like an id whose sampled values are all different."""
    return (
        field.kind == "number"
        and bool(ID_NAME.search(field.name))
        and field.distinct >= round(field.present * field.sampled)
    )


def choose(
    embeddings: np.ndarray,
    columns: Mapping[str, np.ndarray],
    scores: np.ndarray,
    rng: np.random.Generator,
    width: float = 2.0,
    alpha: float = 0.01,
) -> FieldChoice:
    """The candidate fields (`columns`: name -> (n, width) values of the scored items, NaN
    where missing) whose addition to the `embeddings` best recovers the top of `scores`."""
    n = len(scores)
    rows = rng.choice(n, SAMPLE, replace=False) if n > SAMPLE else np.arange(n)
    x, y = np.asarray(embeddings, dtype=np.float32)[rows], np.asarray(scores)[rows]
    sampled = {name: np.asarray(column, dtype=np.float64)[rows] for name, column in columns.items()}
    target = standardised(normal_scores(y))
    splits = [rng.permutation(len(y)) % FOLDS for _ in range(REPEATS)]
    truth = np.argsort(-y, kind="stable")
    seed = int(rng.integers(2**31))  # one kernel draw for every set of fields compared

    def held_out(fields: tuple[str, ...]) -> float:
        inputs = ModelInputs.fit(fields, x, columns=sampled, lenient=True)
        points = inputs(x, columns=sampled)
        draw = np.random.default_rng(seed)
        return _precision(points, target, truth, splits, width, alpha, draw)

    ranked = [name for name, r in _relevance(sampled, target, splits[0]) if r > 0]
    without = held_out(())
    best: tuple[str, ...] = ()
    best_precision, misses = without, 0
    for k in range(1, len(ranked) + 1):
        found = held_out(tuple(ranked[:k]))
        if found > best_precision:
            best, best_precision, misses = tuple(ranked[:k]), found, 0
        else:
            misses += 1
            if misses >= PATIENCE:
                break
    if best_precision < without + MARGIN:
        best, best_precision = (), without
    choice = FieldChoice(best, best_precision, without, n)
    logger.info("guided: the model reads %s", choice.describe())
    return choice


def _relevance(
    columns: Mapping[str, np.ndarray], target: np.ndarray, fold: np.ndarray
) -> list[tuple[str, float]]:
    """Each field's out-of-fold R^2 for `target` on its own (an additive model of quantile
    bins per column, so a peaked or stepped relation counts too), best first."""
    found = []
    for name, column in columns.items():
        design = _bins(column.reshape(len(target), -1))
        predicted = np.empty(len(target))
        for f in range(FOLDS):
            train, test = fold != f, fold == f
            ((coef, intercept),) = ridge_fit(design[train], target[train], (1.0,))
            predicted[test] = design[test] @ coef + intercept
        residual = float(np.mean((target - predicted) ** 2))
        found.append((name, 1.0 - residual / (float(np.var(target)) or 1.0)))
    return sorted(found, key=lambda pair: -pair[1])


def _bins(values: np.ndarray) -> np.ndarray:
    """One-hot quantile bins of every column (a missing value in none of them)."""
    blocks = []
    for column in values.T:
        present = column[np.isfinite(column)]
        if not len(present):
            continue
        edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]))
        index = np.where(np.isfinite(column), np.searchsorted(edges, column), -1)
        blocks.append((index[:, None] == np.arange(len(edges) + 1)).astype(np.float64))
    return np.hstack(blocks) if blocks else np.zeros((len(values), 1))


def _precision(
    points: np.ndarray,
    target: np.ndarray,
    truth: np.ndarray,
    splits: list[np.ndarray],
    width: float,
    alpha: float,
    rng: np.random.Generator,
) -> float:
    """The k-fold top-k precision of a kernel ridge model on `points` (`model_choice`)."""
    gamma = 1.0 / (width * median_distance(points, rng)) ** 2
    phi = KernelFeatures.fit(points, gamma, FEATURES, rng)(points)
    found = 0.0
    for fold in splits:
        predicted = np.empty(len(target))
        for f in range(FOLDS):
            train, test = fold != f, fold == f
            ((coef, intercept),) = ridge_fit(phi[train], target[train], (alpha,))
            predicted[test] = phi[test] @ coef + intercept
        found += precision(predicted, truth) / len(splits)
    return found
