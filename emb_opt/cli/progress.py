"""Progress of a run: a live status line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..log import SearchLog


class Progress:
    """Call `update(log)` after every iteration and `finish()` at the end."""

    def __init__(self, total: int, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.total = total
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
            f"iteration {log.counters.iterations}/{self.total}"
            f"  best {'-' if best is None else f'{best:.4f}'}"
            f"  mean {'-' if mean is None else f'{mean:.4f}'}"
            f"  unique {log.unique_items}"
            f"  score calls {calls}"
            f"  db calls {log.counters.data_source_calls}"
            f"  {elapsed:.1f}s"
            f"  {calls / elapsed if elapsed > 0 else 0:.0f} items/s"
        )

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
