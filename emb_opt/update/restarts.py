"""RestartUpdate: keep trajectories diverse and spend the budget on the ones that do well."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..log import item_key
from ..schemas import Query, UpdateFunction, UpdateResponse
from .base import Strategy, scored_results
from .memory import by_trajectory


@dataclass
class _Trajectory:
    best: float
    best_key: str
    stale: int = 0


class RestartUpdate(Strategy):
    """Wraps a strategy: restarts trajectories that stall or converge onto a better one.

    A trajectory (`collection_id`) is stalled after `patience` iterations without a better
    item, and has converged when its best item is the best item of a better trajectory. Both
    are replaced by a fresh start query at an item sampled from the collection (a database
    call, not a score call) that starts a new trajectory; the best trajectory is never
    restarted. Once `give_up` trajectories in a row have ended on the best trajectory's own
    item (the landscape looks unimodal), ended ones are no longer replaced; once a second
    optimum has been seen, free slots are filled with fresh starts up to `keep`. Budget
    follows results: at most `keep` trajectories (the best) go on, and those outside the best
    `focus` share keep only the first query the wrapped strategy proposed for them.
    """

    STATE = ("rng", "trajectories", "merges", "optima", "restarts")
    STATE_TYPES = (_Trajectory,)

    def __init__(
        self,
        update: UpdateFunction,
        patience: int = 3,
        focus: float = 0.25,
        keep: int | None = 8,
        give_up: int | None = 5,
        seed: int | None = None,
    ) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience!r}")
        if not 0 < focus <= 1:
            raise ValueError(f"focus must be in (0, 1], got {focus!r}")
        self.update = update
        self.patience = patience
        self.focus = focus
        self.keep = keep
        self.give_up = give_up
        self.seed = seed

    def reset(self) -> None:
        self.merges = 0  # trajectories in a row that ended on the best trajectory's item
        self.optima = 1  # distinct optima seen: the best one plus those trajectories stalled on
        self.rng = np.random.default_rng(self.context.seed if self.seed is None else self.seed)
        self.trajectories: dict[int, _Trajectory] = {}
        self.restarts = 0

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        self._track(queries)
        owner = {q.internal.id: q.internal.collection_id for q in queries}
        children: dict[int | None, list[UpdateResponse]] = {}
        for response in self.update(queries):
            response = UpdateResponse.model_validate(response)
            children.setdefault(owner.get(response.parent_id, -1), []).append(response)
        present = set(owner.values())
        live = [key for key in self.trajectories if key in present]
        for key in [key for key in self.trajectories if key not in present]:
            del self.trajectories[key]  # no queries left: it ended without us
        ranked = sorted(live, key=lambda key: -self.trajectories[key].best)
        dropped, ranked = ranked[self.keep :] if self.keep else [], ranked[: self.keep]
        ended = self._ended(ranked)
        keep_all = set(ranked[: max(1, int(np.ceil(self.focus * len(ranked))))])
        responses: list[UpdateResponse] = []
        for key in ranked:
            if key in ended:
                continue
            kids = children.get(key, [])
            responses += kids if key in keep_all else kids[:1]
        responses += children.get(-1, [])
        for key in [*ended, *dropped]:
            del self.trajectories[key]
        if self.give_up is not None and self.merges >= self.give_up:
            return responses
        fresh = len(ended)
        if self.optima > 1 and self.keep:  # several optima: explore with every free slot
            fresh = max(fresh, self.keep - (len(ranked) - len(ended)))
        return responses + self._fresh_starts(fresh)

    def _track(self, queries: list[Query]) -> None:
        """Update each trajectory's best item and its count of iterations without progress."""
        for key, group in by_trajectory(queries).items():
            if key is None:
                continue
            top = max(scored_results(group), key=lambda s: s.score, default=None)
            known = self.trajectories.get(key)
            if top is None:
                if known is not None:
                    known.stale += 1
                continue
            if known is None:
                self.trajectories[key] = _Trajectory(top.score, item_key(top.item))
            elif top.score > known.best:
                known.best, known.best_key, known.stale = top.score, item_key(top.item), 0
            else:
                known.stale += 1

    def _ended(self, ranked: list[int]) -> set[int]:
        """Trajectories to restart: those sitting on a better one's best item, and stalled ones.

        Only a trajectory that ends on the best trajectory's own item counts toward
        `give_up`; ending anywhere else is evidence of another optimum and resets the count.
        """
        ended: set[int] = set()
        claimed: set[str] = set()
        for position, key in enumerate(ranked):
            trajectory = self.trajectories[key]
            if position == 0:
                leader = trajectory.best_key
            elif trajectory.best_key in claimed or trajectory.stale >= self.patience:
                ended.add(key)
                self.merges = self.merges + 1 if trajectory.best_key == leader else 0
                self.optima += trajectory.best_key not in claimed
            claimed.add(trajectory.best_key)
        return ended

    def _fresh_starts(self, count: int) -> list[UpdateResponse]:
        if count == 0:
            return []
        items = self.context.sample(count, int(self.rng.integers(2**31)))
        self.restarts += len(items)
        return [UpdateResponse(query=Query.from_item(item), parent_id=None) for item in items]
