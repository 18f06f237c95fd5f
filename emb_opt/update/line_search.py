"""LineSearchUpdate: step along the estimated score gradient at several lengths; adapt them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..schemas import Query, UpdateResponse
from .memory import ScoredMemory, by_trajectory, knn_radius, scored_results
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


class LineSearchUpdate:
    """Gradient steps with a line search; the kNN results pull each trajectory onto the data.

    Per trajectory (`collection_id`): the ascent direction is a ridge linear fit (scikit-learn,
    `alpha`) to the `window` remembered items nearest to its anchor, centred there; the
    next queries sit at the anchor plus each of `multiples` times the step length along it.
    The step starts at `initial_step` times the kNN radius, doubles when the longest step
    found the best new item and halves (down to a quarter of its start) when the shortest
    did or nothing improved. The new
    anchor is the query that found the best item, pulled `pull` of the way toward its three
    best results, so the trajectory stays on the data.
    """

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
        self.window = window
        self.alpha = alpha
        self.initial_step = initial_step
        self.pull = pull
        self.memory = ScoredMemory()
        self.tracks: dict[int | None, _Track] = {}

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        self.memory.add_queries(queries)
        responses: list[UpdateResponse] = []
        for key, group in by_trajectory(queries).items():
            responses += self._advance(key, group)
        return responses

    def _advance(self, key: int | None, group: list[Query]) -> list[UpdateResponse]:
        scored = [(query, item) for query in group for item in scored_results(query)]
        if not scored:
            return []
        parent, top = max(scored, key=lambda pair: pair[1].score)
        track = self.tracks.get(key)
        if track is None:
            step = self.initial_step * (knn_radius(group) or 1.0)
            track = self.tracks[key] = _Track(top.embedding, -np.inf, step, step / 4)
        improved = top.score > track.best
        self._adapt(track, parent, improved)
        if improved:
            track.best = float(top.score)
            track.centre = self._pulled(parent)
        rows = self.memory.nearest(track.centre, self.window)
        direction = linear_direction(
            self.memory.embeddings[rows], self.memory.scores[rows], track.centre, self.alpha
        )
        if direction is None:
            return []
        track.searched = True
        return [
            UpdateResponse(
                query=Query(
                    embedding=track.centre + multiple * track.step * direction,
                    data={STEP_KEY: multiple},
                ),
                parent_id=parent.internal.id,
            )
            for multiple in self.multiples
        ]

    def _pulled(self, query: Query) -> np.ndarray:
        """The query point moved `pull` of the way to the mean of its three best results."""
        results = sorted(scored_results(query), key=lambda item: -item.score)[:3]
        mean = np.mean([item.embedding for item in results], axis=0)
        return query.embedding + self.pull * (mean - query.embedding)

    def _adapt(self, track: _Track, winner: Query, improved: bool) -> None:
        """Double the step if the longest probe won, halve it if the shortest won or none did."""
        if not track.searched:
            return
        used = (winner.data or {}).get(STEP_KEY)
        if not improved or used == self.multiples[0]:
            track.step = max(track.step * 0.5, track.floor)
        elif used == self.multiples[-1]:
            track.step *= 2.0
