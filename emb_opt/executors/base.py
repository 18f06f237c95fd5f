"""What every executor shares: the protocol, what a config's executor block says to the
executor's builder, batch splitting, deadlines and argument checks.

An executor takes a plugin and a list of inputs, splits them into batches of `batch_size`,
runs the plugin on every batch and returns, in input order, each batch with either its
outputs or the exception it raised (the runner decides what a failure means). A call that
runs past the executor's `timeout` seconds fails its batch with a `CallTimedOut`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from ..checks import check_number
from ..errors import CallTimedOut

BatchFunction = Callable[[list[Any]], list[Any]]
Outcome = tuple[list[Any], Any]  # (the batch, its outputs or the exception it raised)
DEFAULT_TIMEOUT = 3600.0  # seconds per call: a hung call ends a search in an hour, not never


class Executor(Protocol):
    """Runs a batch function over inputs; returns (batch, outputs or exception) pairs, in order."""

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ExecutorSpec:
    """What a config's `executor` block says, for the builder its `kind` names in
    `emb_opt.config.registry.EXECUTORS` (`build(spec) -> Executor`): the block's other keys
    (`options`, with `batch_size` when given), and `local_modules`, which lists the modules
    imported from beside the config (not installed: an executor that runs functions in
    processes it did not fork, such as Ray's workers, must send their code along; call it
    when a function is sent, as modules may be imported until then)."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    local_modules: Callable[[], list[ModuleType]] = list


def split(inputs: Sequence[Any], batch_size: int | None) -> list[list[Any]]:
    """Consecutive batches of at most `batch_size` inputs (one batch when None)."""
    if not inputs:
        return []
    size = batch_size or len(inputs)
    return [list(inputs[start : start + size]) for start in range(0, len(inputs), size)]


def check_timeout(timeout: Any) -> float | None:
    """`timeout` is None (no deadline) or a positive number of seconds."""
    return None if timeout is None else check_number("timeout", timeout, minimum=1e-3)


def timed_out(timeout: float, size: int) -> CallTimedOut:
    """The failure of a batch of `size` inputs whose call ran past `timeout` seconds."""
    return CallTimedOut(
        f"timed out after {timeout:g} s on a batch of {size} (the executor's timeout={timeout})"
    )
