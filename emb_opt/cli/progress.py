"""Progress of a run: a live status line on a terminal, plain log lines otherwise.

The line counts against what will stop the run: score calls against the budget when the stop
rule has one (`score calls 30/100`; iterations then stand alone, as the budget may end the
run long before the iteration cap), else iterations against their cap (`iteration 3/200`)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..log import SearchLog
from ..stopping import StopRule


class Progress:
    """Call `update(log)` after every iteration and `finish()` at the end."""

    def __init__(self, rule: StopRule, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.rule = rule
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.began = time.perf_counter()

    def line(self, log: SearchLog) -> str:
        last = log.history[-1] if log.history else {}
        elapsed = time.perf_counter() - self.began
        best, mean = last.get("best_score"), last.get("mean_score")
        calls = log.counters.score_calls
        return (
            f"iteration {self._iterations(log)}"
            f"  best {'-' if best is None else f'{best:.4f}'}"
            f"  mean {'-' if mean is None else f'{mean:.4f}'}"
            f"  unique {log.unique_items}"
            f"  score calls {self._score_calls(log)}"
            f"  db calls {log.counters.data_source_calls}"
            f"  {elapsed:.1f}s"
            f"  {calls / elapsed if elapsed > 0 else 0:.0f} items/s"
        )

    def _iterations(self, log: SearchLog) -> str:
        """Iterations done, against their cap unless a budget is what counts."""
        cap = self.rule.iterations if self.rule.max_score_calls is None else None
        return f"{log.counters.iterations}{'' if cap is None else f'/{cap}'}"

    def _score_calls(self, log: SearchLog) -> str:
        """Score calls made, against the budget when there is one (with the known scores
        when they spend it)."""
        calls, budget = log.counters.score_calls, self.rule.max_score_calls
        if budget is None:
            return str(calls)
        known = log.counters.known_scores if self.rule.count_known else 0
        return f"{calls + known}/{budget}" + (f" ({known} known)" if known else "")

    def update(self, log: SearchLog) -> None:
        if self.quiet:
            return
        if self.live:
            self.stream.write("\r\033[K" + self.line(log))
        else:
            self.stream.write(self.line(log) + "\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        """A line of its own (nothing when quiet)."""
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.live and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
