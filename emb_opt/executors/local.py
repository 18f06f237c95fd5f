"""Executors on this machine: in this thread, a thread pool or a process pool."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor as _PoolExecutor
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from ..checks import check_positive as _check_positive
from .base import BatchFunction, Outcome, split


class SerialExecutor:
    """Runs every batch in the calling thread."""

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


class _PoolBacked:
    """Shared part of the pool executors: a lazily created pool, closed by `close`."""

    def __init__(self, batch_size: int | None, max_workers: int | None) -> None:
        _check_positive("batch_size", batch_size)
        _check_positive("max_workers", max_workers)
        self.batch_size = batch_size
        self.max_workers = max_workers
        self._pool: _PoolExecutor | None = None

    def _make_pool(self) -> _PoolExecutor:
        raise NotImplementedError

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]:
        batches = split(inputs, self.batch_size)
        if not batches:
            return []
        if self._pool is None:
            self._pool = self._make_pool()
        futures = [self._pool.submit(fn, batch) for batch in batches]
        return [(batch, f.exception() or f.result()) for batch, f in zip(batches, futures)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> _PoolBacked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadExecutor(_PoolBacked):
    """Runs batches on a thread pool: for functions that wait (I/O) or release the GIL."""

    def __init__(self, batch_size: int | None = 64, max_workers: int | None = None) -> None:
        super().__init__(batch_size, max_workers)

    def _make_pool(self) -> _PoolExecutor:
        return ThreadPoolExecutor(max_workers=self.max_workers)


class ProcessExecutor(_PoolBacked):
    """Runs batches in worker processes: for CPU-bound Python. The function must be picklable."""

    def __init__(
        self,
        batch_size: int | None = 64,
        max_workers: int | None = None,
        start_method: str = "forkserver",
    ) -> None:
        super().__init__(batch_size, max_workers)
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(
                f"start_method {start_method!r} is not available here; "
                f"expected one of {multiprocessing.get_all_start_methods()}"
            )
        self.start_method = start_method

    def _make_pool(self) -> _PoolExecutor:
        context = multiprocessing.get_context(self.start_method)
        return ProcessPoolExecutor(max_workers=self.max_workers, mp_context=context)
