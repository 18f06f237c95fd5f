"""Where filter and score functions run: this thread, threads, processes, Ray or HTTP.

Every executor has `run(fn, inputs) -> [(batch, outputs or exception), ...]` in input order
and `close()`. `RayExecutor` and `HTTPExecutor` import ray / httpx only when constructed.
"""

from .base import BatchFunction, Executor, Outcome, split
from .http import HTTPExecutor, RemoteFunction
from .local import ProcessExecutor, SerialExecutor, ThreadExecutor
from .ray import RayExecutor

__all__ = [
    "BatchFunction",
    "Executor",
    "HTTPExecutor",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "RemoteFunction",
    "SerialExecutor",
    "ThreadExecutor",
    "split",
]
