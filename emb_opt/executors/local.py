"""Executors on this machine: in this thread, on threads, or in a process pool.

Thread and process executors give every call a deadline, `timeout` seconds from the moment
it starts (queued batches wait for a free worker first). A thread cannot be stopped: at the
deadline its batch fails and the search goes on without it; the thread is a daemon, so
nothing waits for it (not `close`, not Ctrl-C, not the interpreter's exit). A process can:
the worker running a call past its deadline is killed and replaced (pebble's `ProcessPool`).
A worker process also ends when the process that started the pool dies, even by `kill -9`
(`_end_with`): nothing keeps running, or keeps a forkserver or resource tracker alive, past it.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import os
import queue
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..checks import check_positive as _check_positive
from ..errors import BackendError, ConfigError
from .base import (
    DEFAULT_TIMEOUT,
    BatchFunction,
    ExecutorSpec,
    Outcome,
    check_timeout,
    split,
    timed_out,
)


class SerialExecutor:
    """Runs every batch in the calling thread (no deadline: nothing could stop the call)."""

    def __init__(self, batch_size: int | None = None) -> None:
        _check_positive("batch_size", batch_size)
        self.batch_size = batch_size

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for batch in split(inputs, self.batch_size):
            try:
                outcomes.append((batch, fn(batch)))
            except Exception as error:
                outcomes.append((batch, error))
        return outcomes

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadExecutor:
    """Runs batches on daemon threads, at most `max_workers` at once: for functions that wait
    (I/O) or release the GIL. A call past `timeout` seconds (None: no deadline) is given up."""

    def __init__(
        self,
        batch_size: int | None = 64,
        max_workers: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        _check_positive("batch_size", batch_size)
        _check_positive("max_workers", max_workers)
        self.batch_size = batch_size
        self.max_workers = max_workers
        self.timeout = check_timeout(timeout)

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]:
        batches = split(inputs, self.batch_size)
        workers = self.max_workers or min(32, (os.cpu_count() or 1) + 4)  # as ThreadPoolExecutor
        results: list[Any] = [None] * len(batches)
        finished: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        waiting = deque(range(len(batches)))
        deadlines: dict[int, float] = {}  # batch index -> when its call is given up
        while waiting or deadlines:
            while waiting and len(deadlines) < workers:
                index = waiting.popleft()
                deadlines[index] = time.monotonic() + (self.timeout or math.inf)
                _start_thread(fn, batches[index], index, finished)
            left = min(deadlines.values()) - time.monotonic()
            try:
                index, outcome = finished.get(timeout=None if left == math.inf else max(left, 0))
            except queue.Empty:
                index = min(deadlines, key=deadlines.__getitem__)
                if deadlines[index] > time.monotonic():
                    continue  # woke up early
                outcome = timed_out(self.timeout or 0, len(batches[index]))
            if deadlines.pop(index, None) is not None:  # else: a call given up earlier
                results[index] = outcome
        return list(zip(batches, results))

    def close(self) -> None:
        """Nothing to release: threads end with their call (or are left behind, as daemons)."""

    def __enter__(self) -> ThreadExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_thread(fn: BatchFunction, batch: list[Any], index: int, finished: Any) -> None:
    """Call `fn(batch)` on a daemon thread that puts `(index, outputs or exception)` in
    `finished`."""

    def call() -> None:
        outcome: Any
        try:
            outcome = fn(batch)
        except BaseException as error:  # as a ThreadPoolExecutor would: the runner decides
            outcome = error
        finished.put((index, outcome))

    threading.Thread(target=call, name="emb-opt-call", daemon=True).start()


class ProcessExecutor:
    """Runs batches in worker processes: for CPU-bound Python. The function must be picklable.
    A worker whose call runs past `timeout` seconds (None: no deadline) is killed."""

    def __init__(
        self,
        batch_size: int | None = 64,
        max_workers: int | None = None,
        start_method: str = "forkserver",
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        _check_positive("batch_size", batch_size)
        _check_positive("max_workers", max_workers)
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(
                f"start_method {start_method!r} is not available here; "
                f"expected one of {multiprocessing.get_all_start_methods()}"
            )
        self.batch_size = batch_size
        self.max_workers = max_workers
        self.start_method = start_method
        self.timeout = check_timeout(timeout)
        self._pool: Any = None

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]:
        batches = split(inputs, self.batch_size)
        if not batches:
            return []
        if self._pool is None:
            self._pool = self._make_pool()
        futures = [self._pool.schedule(fn, [batch], timeout=self.timeout) for batch in batches]
        return [(batch, self._outcome(f, len(batch))) for batch, f in zip(batches, futures)]

    def _make_pool(self) -> Any:
        import pebble

        return pebble.ProcessPool(
            max_workers=self.max_workers or os.cpu_count() or 1,
            initializer=_end_with,
            initargs=(os.getpid(),),
            context=multiprocessing.get_context(self.start_method),
        )

    def _outcome(self, future: Any, size: int) -> Any:
        import pebble

        error = future.exception()
        if isinstance(error, FutureTimeout):
            return timed_out(self.timeout or 0, size)
        if isinstance(error, pebble.ProcessExpired):
            return BackendError(f"the worker process of a batch of {size} died: {error}")
        return error or future.result()

    def close(self) -> None:
        """Stop the worker processes (killing any still in a call)."""
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_serial(spec: ExecutorSpec) -> SerialExecutor:
    """`executor: {kind: serial}` (no `timeout`: nothing could stop a call)."""
    options = dict(spec.options)
    if options.pop("timeout", None) is not None:
        raise ConfigError(
            "executor.timeout: a serial executor runs each call in the search's own thread and "
            "cannot stop it; use kind: thread or process to give calls a deadline"
        )
    return SerialExecutor(**options)


def build_thread(spec: ExecutorSpec) -> ThreadExecutor:
    """`executor: {kind: thread}`; `concurrency` is `max_workers`."""
    return ThreadExecutor(**_workers(spec.options))


def build_process(spec: ExecutorSpec) -> ProcessExecutor:
    """`executor: {kind: process}`; `concurrency` is `max_workers`."""
    return ProcessExecutor(**_workers(spec.options))


def _workers(options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` with the config's `concurrency` as the constructors' `max_workers`."""
    renamed = dict(options)
    if "concurrency" in renamed:
        renamed["max_workers"] = renamed.pop("concurrency")
    return renamed


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _end_with(owner: int) -> None:
    """Make this worker process end when process `owner` (the one running the pool) does.

    On Linux the kernel kills a worker whose parent dies (`PR_SET_PDEATHSIG`), even one stuck
    in C code; that parent is `owner` for the fork and spawn start methods. With forkserver the
    parent is the forkserver, which lives as long as its workers, so a daemon thread also waits
    for `owner` to end (a pidfd; polled once a second where there is none) and then ends this
    process: running Python code is interrupted within the interpreter's switch interval."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    threading.Thread(target=_exit_after, args=(owner,), name="emb-opt-owner", daemon=True).start()


def _exit_after(owner: int) -> None:
    """End this process once process `owner` has ended (at once if it already has)."""
    try:
        select.select([os.pidfd_open(owner)], [], [])
    except ProcessLookupError:
        pass
    except (AttributeError, OSError):  # no pidfd on this system
        try:
            while True:
                os.kill(owner, 0)
                time.sleep(1)
        except OSError:
            pass
    os._exit(1)
