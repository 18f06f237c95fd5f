"""What a pool round of model-guided screening costs, measured on the collection itself.

A pool round scans every item and rates it with the fitted model. `measure` times the scan
and the rating of the first few scan batches and extrapolates to the whole collection:
items x seconds per item / workers rating in parallel. The rating time is scaled by
`rate_scale`: the model of the first guided round is fitted on few items and has fewer
landmarks than later ones, and rating costs in proportion to the landmarks.
`GuidedUpdate(mode="auto")` picks pool when the estimate fits its `round_seconds`, else
neighbourhood (`choose_mode`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

from ..protocols import ScanBatch

logger = logging.getLogger(__name__)
SAMPLE_BATCHES = 2  # scan batches timed


@dataclass(frozen=True)
class RoundCost:
    """The estimated cost of rating every item once."""

    items: int
    seconds_per_item: float  # scan + rating, measured in one process
    workers: int = 1  # processes rating in parallel

    @property
    def seconds(self) -> float:
        """The estimated seconds of one pool round."""
        return self.items * self.seconds_per_item / self.workers

    def describe(self, budget: float) -> str:
        """E.g. "a round rates 1,000,000 items in ~2.1 s (budget 60 s)"."""
        seconds = f"{self.seconds:.2g}" if self.seconds < 10 else f"{self.seconds:,.0f}"
        return f"a round rates {self.items:,} items in ~{seconds} s (budget {budget:g} s)"


def measure(
    parts: Iterable[ScanBatch],
    rate: Callable[[ScanBatch], Any],
    items: int,
    workers: int = 1,
    rate_scale: float = 1.0,
    batches: int = SAMPLE_BATCHES,
) -> RoundCost:
    """Time reading the first `batches` of the scan `parts` and `rate`-ing them
    (that time x `rate_scale`); extrapolate to `items` items rated by `workers` in parallel.
    Closes `parts`."""
    seen, seconds = 0, 0.0
    iterator = iter(parts)
    for _ in range(batches):
        began = time.perf_counter()
        part = next(iterator, None)
        read = time.perf_counter()
        if part is None:
            break
        rate(part)
        seconds += (read - began) + (time.perf_counter() - read) * rate_scale
        seen += len(part.ids)
    if isinstance(parts, Generator):
        parts.close()
    return RoundCost(items, seconds / seen if seen else 0.0, workers)


def choose_mode(cost: RoundCost, budget: float) -> str:
    """Pool mode when a pool round fits `budget` seconds, else neighbourhood; logs why."""
    mode = "pool" if cost.seconds <= budget else "neighbourhood"
    logger.info("guided: %s mode: %s", mode, cost.describe(budget))
    return mode
