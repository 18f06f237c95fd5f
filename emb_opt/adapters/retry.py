"""Bounded retries with exponential backoff for transient database failures.

Transient: connection refused or reset, timeouts, gRPC UNAVAILABLE / DEADLINE_EXCEEDED /
ABORTED, HTTP 5xx and 429, found anywhere in the exception's cause/context chain (clients
wrap transport errors). Anything else (a bad filter, a missing collection) is raised at
once. When the attempts run out, `BackendError` names the backend, the address and the
last failure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import BackendError

T = TypeVar("T")
TRANSIENT_GRPC = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED"})
TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all, sleeping `initial_delay * multiplier**i` (capped) in between."""

    attempts: int = 6
    initial_delay: float = 0.25
    max_delay: float = 4.0
    multiplier: float = 2.0
    jitter: float = 0.1  # +- this fraction of each delay, so clients do not retry in lockstep

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be non-negative and the multiplier at least 1")

    def delays(self) -> Iterator[float]:
        """The sleeps between attempts (attempts - 1 of them)."""
        delay = min(self.initial_delay, self.max_delay)
        for _ in range(self.attempts - 1):
            spread = delay * self.jitter
            yield max(0.0, delay + random.uniform(-spread, spread))
            delay = min(delay * self.multiplier, self.max_delay)


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and its causes and contexts, each once (chains can be cyclic)."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]  # type: ignore[list-item]


def _grpc_code(error: BaseException) -> str | None:
    code = getattr(error, "code", None)
    if not callable(code) or not type(error).__module__.startswith("grpc"):
        return None
    try:
        return getattr(code(), "name", None)
    except Exception:
        return None


def _http_status(error: BaseException) -> int | None:
    for holder in (error, getattr(error, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int):
            return status
    code = getattr(error, "code", None)  # chromadb errors: code() -> HTTP status
    if callable(code) and type(error).__module__.startswith("chromadb"):
        try:
            status = code()
        except Exception:
            return None
        return status if isinstance(status, int) else None
    return None


def _is_transport(error: BaseException) -> bool:
    return any(
        cls.__name__ in ("TransportError", "TimeoutException")
        and cls.__module__.startswith("httpx")
        for cls in type(error).__mro__
    )


def is_transient(error: BaseException) -> bool:
    """Whether a retry may succeed: a network failure, or the server saying "try again"."""
    for current in exception_chain(error):
        if isinstance(current, ConnectionError | TimeoutError) or _is_transport(current):
            return True
        if _grpc_code(current) in TRANSIENT_GRPC or _http_status(current) in TRANSIENT_HTTP:
            return True
    return False


def call_with_retry(
    fn: Callable[[], T],
    what: str,
    policy: RetryPolicy = RetryPolicy(),
    transient: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """`fn()`, retried on transient failures; `BackendError` once `policy` is exhausted.

    `what` says what was attempted and where ("Qdrant search on http://host:6333").
    """
    delays = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as error:
            if isinstance(error, BackendError) or not transient(error):
                raise
            delay = next(delays, None)
            if delay is None:
                raise BackendError(
                    f"{what} failed after {attempt} attempt(s): {type(error).__name__}: "
                    f"{_first_line(error)}"
                ) from error
            sleep(delay)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else repr(error)
