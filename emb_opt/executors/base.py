"""What every executor shares: the protocol, batch splitting and argument checks.

An executor takes a plugin and a list of inputs, splits them into batches of `batch_size`,
runs the plugin on every batch and returns, in input order, each batch with either its
outputs or the exception it raised (the runner decides what a failure means).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

BatchFunction = Callable[[list[Any]], list[Any]]
Outcome = tuple[list[Any], Any]  # (the batch, its outputs or the exception it raised)


class Executor(Protocol):
    """Runs a batch function over inputs; returns (batch, outputs or exception) pairs, in order."""

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]: ...

    def close(self) -> None: ...


def split(inputs: Sequence[Any], batch_size: int | None) -> list[list[Any]]:
    """Consecutive batches of at most `batch_size` inputs (one batch when None)."""
    if not inputs:
        return []
    size = batch_size or len(inputs)
    return [list(inputs[start : start + size]) for start in range(0, len(inputs), size)]
