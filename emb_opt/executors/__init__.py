"""Where filter and score functions run: this thread, threads, processes, Ray or HTTP.

Every executor has `run(fn, inputs) -> [(batch, outputs or exception), ...]` in input order
and `close()`. `RayExecutor` and `HTTPExecutor` import ray / httpx only when constructed.
A config's `executor: {kind: ...}` names a builder, `build(spec: ExecutorSpec) -> Executor`,
in `emb_opt.config.registry.EXECUTORS`; `emb_opt.testing.ExecutorConformance` is the suite
every executor passes.
"""

from .base import BatchFunction, Executor, ExecutorSpec, Outcome, split
from .http import HTTPExecutor, RemoteFunction
from .local import ProcessExecutor, SerialExecutor, ThreadExecutor
from .ray import RayExecutor

__all__ = [
    "BatchFunction",
    "Executor",
    "ExecutorSpec",
    "HTTPExecutor",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "RemoteFunction",
    "SerialExecutor",
    "ThreadExecutor",
    "split",
]
