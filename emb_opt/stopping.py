"""When a search stops before its iteration count: a score-call budget, a target, patience."""

from __future__ import annotations

from dataclasses import dataclass, field

from .log import SearchLog


@dataclass
class StopRule:
    """Stop criteria counted from the start of one `search` call.

    `max_score_calls` is a hard budget: an iteration scores at most what is left of it (the
    nearest results first) and the search stops when it is spent. `target_score` stops once
    the best score reaches it; `patience` after that many iterations without a better score.
    """

    max_score_calls: int | None = None
    target_score: float | None = None
    patience: int | None = None
    _calls_at_start: int = field(default=0, init=False, repr=False)
    _best: float | None = field(default=None, init=False, repr=False)
    _stale: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_score_calls", "patience"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")

    def start(self, log: SearchLog) -> None:
        self._calls_at_start = log.counters.score_calls
        self._best = _best_score(log)
        self._stale = 0

    def score_budget(self, log: SearchLog) -> int | None:
        """Score calls this iteration may still make (None: unlimited)."""
        if self.max_score_calls is None:
            return None
        return max(0, self.max_score_calls - (log.counters.score_calls - self._calls_at_start))

    def should_stop(self, log: SearchLog) -> bool:
        best = _best_score(log)
        if best is not None and (self._best is None or best > self._best):
            self._best, self._stale = best, 0
        else:
            self._stale += 1
        return (
            self.score_budget(log) == 0
            or (self.target_score is not None and best is not None and best >= self.target_score)
            or (self.patience is not None and self._stale >= self.patience)
        )


def _best_score(log: SearchLog) -> float | None:
    best = log.best()
    return None if best is None else best.score
