"""When a search stops: the iteration cap, no queries left, a score-call budget, a target,
patience, idleness; every stop is decided here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .checks import check_count, check_positive
from .log import SearchLog
from .schemas import Batch

NO_QUERIES = "the update function proposed no more queries"


@dataclass(frozen=True)
class StopRule:
    """Stop criteria, read from the log alone so a resumed search stops where the original would.

    The rule is the only thing that ends a search: the loops ask it before every iteration.
    `iterations` caps the iterations of the whole log (None: no cap; the `iterations=` of
    `Runner.search` and `AskTell` are shorthands that lower it, see `capped`); a search whose
    update function proposed no queries stops as well. `max_score_calls` is a hard budget
    over the whole log: an iteration scores at most what is left of it (the nearest results
    first) and the search stops when it is spent; scores known before the search
    (`SearchLog.add_known`) spend it only with `count_known`. `target_score` (in the score's
    units) stops once the best score reaches it (is at or above it, or at or below it when
    the log minimizes); `patience` after that many iterations in a row without a better best
    score; `idle` after that many iterations in a row that scored nothing new (the queries
    only found items already scored).

    Args:
        iterations: cap on the iterations of the whole log (None: no cap).
        max_score_calls: the score-call budget of the whole log (None: no budget).
        target_score: stop once the best score reaches this (None: no target).
        patience: stop after this many iterations without a better best score.
        idle: stop after this many iterations that scored nothing new.
        count_known: scores known before the search spend the budget too.
    """

    max_score_calls: int | None = None
    iterations: int | None = None
    target_score: float | None = None
    patience: int | None = None
    idle: int | None = None
    count_known: bool = False

    def __post_init__(self) -> None:
        for name in ("max_score_calls", "patience", "idle"):
            check_positive(name, getattr(self, name))
        if self.iterations is not None:
            check_count("iterations", self.iterations)
        target = self.target_score
        if target is not None and (
            isinstance(target, bool) or not isinstance(target, (int, float)) or target != target
        ):
            raise ValueError(f"target_score must be a number or None, got {target!r}")

    @classmethod
    def from_config(cls, block: Mapping[str, Any], count_known: bool = False) -> StopRule:
        """The rule a config's `stop` block (as plain data) describes; `count_known` makes
        scores known before the search spend the budget."""
        return cls(**block, count_known=count_known)

    def capped(self, iterations: int) -> StopRule:
        """This rule, also stopping once the log holds `iterations` iterations (its own cap
        stays when it is lower)."""
        check_count("iterations", iterations)
        if self.iterations is not None and self.iterations <= iterations:
            return self
        return replace(self, iterations=iterations)

    def score_budget(self, log: SearchLog) -> int | None:
        """Score calls the next iteration may still make (None: unlimited)."""
        if self.max_score_calls is None:
            return None
        spent = log.counters.score_calls
        if self.count_known:
            spent += log.counters.known_scores
        return max(0, self.max_score_calls - spent)

    def reason(self, log: SearchLog) -> str | None:
        """Why the search stops now (None: it goes on): the budget, target, patience or idle
        criterion first, then no queries left, then the iteration cap."""
        best = log.best()
        if self.score_budget(log) == 0:
            return f"score budget of {self.max_score_calls} calls spent"
        if (
            self.target_score is not None
            and best is not None
            and best.score is not None
            and log.direction.reached(best.score, self.target_score)
        ):
            return f"target score {self.target_score} reached"
        if self.patience is not None and stale_iterations(log) >= self.patience:
            return f"no better score in {self.patience} iterations"
        if self.idle is not None and idle_iterations(log) >= self.idle:
            return f"no new item in {self.idle} iterations"
        if no_queries(log.pending):
            return NO_QUERIES
        if self.iterations is not None and log.counters.iterations >= self.iterations:
            return f"{self.iterations} iterations done"
        return None

    def should_stop(self, log: SearchLog) -> bool:
        return self.reason(log) is not None


def no_queries(batch: Batch | None) -> bool:
    """Whether `batch` (the queries a search goes on with) has no valid query left."""
    return batch is None or not batch.valid_queries()


def stale_iterations(log: SearchLog) -> int:
    """How many of the latest iterations did not improve the best score (read from the end, so
    asking costs the length of the stall, not of the search)."""
    history, better = log.history, log.direction.better
    for back in range(len(history)):
        best = history[-1 - back]["best_score"]
        earlier = history[-2 - back]["best_score"] if back + 1 < len(history) else None
        if best is not None and (earlier is None or better(best, earlier)):
            return back
    return len(history)


def idle_iterations(log: SearchLog) -> int:
    """How many of the latest iterations scored no new item."""
    history = log.history
    for back in range(len(history) - 1):
        if history[-1 - back]["score_calls"] != history[-2 - back]["score_calls"]:
            return back
    return max(0, len(history) - 1)
