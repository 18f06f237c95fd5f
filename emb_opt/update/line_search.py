"""LineSearchUpdate: step along the estimated score gradient at several lengths; adapt them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..schemas import Query, UpdateResponse
from .base import Scored, TrajectoryStrategy, child, knn_radius, scored_results
from .models import linear_direction

STEP_KEY = "line_search_step"


@dataclass
class _Track:
    """One trajectory: its anchor point, best score and step length (with its floor)."""

    centre: np.ndarray
    best: float
    step: float
    floor: float
    searched: bool = False


class LineSearchUpdate(TrajectoryStrategy):
    """Gradient steps with a line search; the kNN results pull each trajectory onto the data.

    Per trajectory: the ascent direction is a ridge linear fit (scikit-learn, `alpha`) to
    the `window` remembered items nearest to its anchor, centred there; the next queries sit
    at the anchor plus each of `multiples` times the step length along it. The step starts
    at `initial_step` times the kNN radius, doubles when the longest step found the best new
    item and halves (down to a quarter of its start) when the shortest did or nothing
    improved. The new anchor is the query that found the best item, pulled `pull` of the way
    toward its three best results, so the trajectory stays on the data.
    """

    STATE_TYPES = (_Track,)

    def __init__(
        self,
        multiples: Sequence[float] = (0.5, 1.0, 2.0),
        window: int = 128,
        alpha: float = 1.0,
        initial_step: float = 1.0,
        pull: float = 0.5,
    ) -> None:
        self.multiples = sorted(float(m) for m in multiples)
        if not self.multiples or self.multiples[0] <= 0:
            raise ValueError(f"multiples must be positive numbers, got {multiples!r}")
        if window < 2 or initial_step <= 0:
            raise ValueError(
                f"window must be >= 2 and initial_step > 0, got {window!r}, {initial_step!r}"
            )
        super().__init__()
        self.window = window
        self.alpha = alpha
        self.initial_step = initial_step
        self.pull = pull

    def step(self, key: int | None, scored: list[Scored]) -> list[UpdateResponse]:
        top = max(scored, key=lambda s: s.score)
        track: _Track | None = self.trajectories.get(key)
        if track is None:
            step = self.initial_step * (knn_radius(scored) or 1.0)
            track = self.trajectories[key] = _Track(top.embedding, -np.inf, step, step / 4)
        improved = top.score > track.best
        self._adapt(track, top.query, improved)
        if improved:
            track.best = top.score
            track.centre = self._pulled(top.query)
        rows = self.memory.nearest(track.centre, self.window)
        direction = linear_direction(
            self.memory.embeddings[rows], self.memory.scores[rows], track.centre, self.alpha
        )
        if direction is None:
            return []
        track.searched = True
        return [
            child(track.centre + m * track.step * direction, top, {STEP_KEY: m})
            for m in self.multiples
        ]

    def _pulled(self, query: Query) -> np.ndarray:  # query has at least one scored result
        """The query point moved `pull` of the way to the mean of its three best results."""
        best = sorted(scored_results([query]), key=lambda s: -s.score)[:3]
        mean = np.mean([s.embedding for s in best], axis=0)
        return best[0].query_embedding + self.pull * (mean - best[0].query_embedding)

    def _adapt(self, track: _Track, winner: Query, improved: bool) -> None:
        """Double the step if the longest probe won, halve it if the shortest won or none did."""
        if not track.searched:
            return
        used = (winner.data or {}).get(STEP_KEY)
        if not improved or used == self.multiples[0]:
            track.step = max(track.step * 0.5, track.floor)
        elif used == self.multiples[-1]:
            track.step *= 2.0
