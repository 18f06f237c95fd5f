"""Acquisition: which of many candidates to score, from an ensemble's predictions.

`greedy` takes the best mean, `ucb` the best mean + `beta` x spread, `thompson` gives each
slot of the batch to one head in turn and takes that head's best. A batch never spends two
slots on near-duplicates: a candidate closer than `radius` to one already chosen is skipped.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Acquisition = Literal["greedy", "ucb", "thompson"]
ACQUISITIONS = ("greedy", "ucb", "thompson")


def values(predictions: np.ndarray, kind: Acquisition, beta: float) -> np.ndarray:
    """One value per candidate (thompson: the most optimistic head, for shortlisting)."""
    if kind == "greedy":
        return predictions.mean(axis=1)
    if kind == "ucb":
        return predictions.mean(axis=1) + beta * predictions.std(axis=1)
    return predictions.max(axis=1)


def choose(
    predictions: np.ndarray,
    embeddings: np.ndarray,
    n: int,
    kind: Acquisition,
    beta: float,
    radius: float,
    rng: np.random.Generator,
) -> list[int]:
    """Indices of `n` diverse candidates, best first by the acquisition `kind`."""
    if kind == "thompson":
        heads = rng.permutation(predictions.shape[1])
        rankings = [np.argsort(-predictions[:, h], kind="stable") for h in heads]
    else:
        rankings = [np.argsort(-values(predictions, kind, beta), kind="stable")]
    points = np.asarray(embeddings, dtype=np.float32)
    chosen: list[int] = []
    taken = np.zeros(len(points), dtype=bool)
    cursors = [0] * len(rankings)
    slot = 0
    while len(chosen) < n and any(c < len(points) for c in cursors):
        turn = slot % len(rankings)
        slot += 1
        ranking, cursor = rankings[turn], cursors[turn]
        while cursor < len(ranking):
            index = int(ranking[cursor])
            cursor += 1
            if taken[index]:
                continue
            taken[index] = True
            if chosen and radius > 0:
                nearest = np.min(np.linalg.norm(points[chosen] - points[index], axis=1))
                if nearest < radius:
                    continue
            chosen.append(index)
            break
        cursors[turn] = cursor
    return chosen


def shortlist(scores: np.ndarray, size: int) -> np.ndarray:
    """Indices of the `size` highest `scores`, highest first."""
    if size >= len(scores):
        return np.argsort(-scores, kind="stable")
    top = np.argpartition(-scores, size - 1)[:size]
    return top[np.argsort(-scores[top], kind="stable")]
