"""Run filter and score functions on Ray: a pool of actors, or one task per batch.

Actors (the default) receive each function once and keep it, so a function that loads a
model on its first call loads it once per actor and then scores every later batch, across
iterations. Tasks deserialise the function
for every batch: fine for light functions, and Ray spreads them over the whole cluster.

Faults: a batch whose actor dies (killed, crashed, node lost) is resubmitted to a fresh
actor, at most `max_retries` times; a batch whose task worker dies is retried by Ray itself
with the same bound. A batch that exhausts its retries becomes a `BackendError`. An exception
raised by the function is returned as is (never retried). Every input is in exactly one
batch of the results, in input order.

Deadlines: each batch's call has `timeout` seconds from the moment it starts running on its
actor or task worker, which says so first (a streaming generator's first item): time spent
waiting for an actor or worker process to start, for resources or behind another batch never
counts. A call past its deadline fails with a `CallTimedOut`, not retried; its actor is
killed and replaced, its task cancelled (a task Ray retried after losing its worker keeps the
deadline of its first start). Actors or tasks that ask for more CPUs or GPUs than the cluster
has are an error at once.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any, Literal

from ..checks import check_count, check_number, check_positive
from ..errors import BackendError, ConfigError, missing_dependency
from .base import DEFAULT_TIMEOUT, BatchFunction, Outcome, check_timeout, split, timed_out


class RayExecutor:
    """Runs batches on Ray, started locally or joined at `address` ("auto", "ray://head:10001").

    `num_cpus`/`num_gpus` are the resources of each actor (or task); `init_kwargs` go to
    `ray.init` when this executor starts Ray. If Ray is already initialised, it is used as is.
    `timeout` is each batch's deadline in seconds (None: none), see the module's docstring.
    `modules_by_value` gives the modules whose code must travel with a function shipped,
    since Ray's workers cannot import them (a configured run's builder passes the modules
    imported from beside the config).
    """

    def __init__(
        self,
        address: str | None = None,
        num_actors: int = 2,
        batch_size: int | None = 64,
        num_cpus: float = 1,
        num_gpus: float = 0,
        mode: Literal["actors", "tasks"] = "actors",
        max_retries: int = 3,
        init_kwargs: dict[str, Any] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        modules_by_value: Callable[[], Iterable[ModuleType]] = tuple,
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise missing_dependency("ray", "ray") from None
        if mode not in ("actors", "tasks"):
            raise ValueError(f"mode must be 'actors' or 'tasks', got {mode!r}")
        check_positive("num_actors", num_actors)
        check_positive("batch_size", batch_size)
        check_number("num_cpus", num_cpus)
        check_number("num_gpus", num_gpus)
        check_count("max_retries", max_retries)
        self.address = address
        self.num_actors = num_actors
        self.batch_size = batch_size
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.mode = mode
        self.max_retries = max_retries
        self.init_kwargs = dict(init_kwargs or {})
        self.timeout = check_timeout(timeout)
        self.modules_by_value = modules_by_value
        self.actors: list[Any] = []
        self.actor_restarts = 0
        self._shipped: dict[int, tuple[BatchFunction, int, Any]] = {}
        self._tokens = itertools.count()
        self._started_ray = False

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]:
        batches = split(inputs, self.batch_size)
        if not batches:
            return []
        self.start()
        token, fn_ref = self._ship(fn)
        if self.mode == "tasks":
            return self._run_tasks(fn_ref, batches)
        return self._run_actors(token, fn_ref, batches)

    def start(self) -> None:
        """Connect to Ray, check the cluster can fit the actors (or a task) and create the
        actors now (`run` does it on first use)."""
        self._connect()
        if self.mode == "tasks":
            self._check_fits(1)
            return
        if not self.actors:
            self._check_fits(self.num_actors)
        while len(self.actors) < self.num_actors:
            self.actors.append(self._new_actor())

    def close(self) -> None:
        """Kill the actors and drop the shipped functions; shut Ray down if `run` started it."""
        import ray

        if ray.is_initialized():
            for actor in self.actors:
                ray.kill(actor)
        self.actors = []
        self._shipped.clear()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_kwargs)
            self._started_ray = True
            self.actors, self._shipped = [], {}  # from an earlier Ray session, if any

    def _check_fits(self, workers: int) -> None:
        """`workers` actors (or one task) that need more CPUs or GPUs than the whole cluster
        has would wait for them forever: a ConfigError naming both instead."""
        import ray

        total = ray.cluster_resources()
        for name, each in (("CPU", self.num_cpus), ("GPU", self.num_gpus)):
            have = total.get(name, 0)
            if each and workers * each > have:
                asked = f"num_{name.lower()}s={each}"
                if workers > 1:
                    asked = f"{workers} actors x {asked}"
                raise ConfigError(
                    f"RayExecutor: {asked} needs more than the cluster's {have:g} {name}s in "
                    f"all; ask for less, or add nodes to the cluster first"
                )

    def _ship(self, fn: BatchFunction) -> tuple[int, Any]:
        """Put `fn` in the object store once; return its token and reference."""
        import ray

        shipped = self._shipped.get(id(fn))  # holding `fn` keeps its id from being reused
        if shipped is None:
            for module in self.modules_by_value():
                ray.cloudpickle.register_pickle_by_value(module)
            shipped = self._shipped[id(fn)] = (fn, next(self._tokens), ray.put(fn))
        return shipped[1], shipped[2]

    def _new_actor(self) -> Any:
        return _worker_class().options(num_cpus=self.num_cpus, num_gpus=self.num_gpus).remote()

    def _run_tasks(self, fn_ref: Any, batches: list[list[Any]]) -> list[Outcome]:
        import ray

        task = _batch_task().options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        calls = _Calls(self.timeout)
        for index, batch in enumerate(batches):
            calls.add(task.remote(fn_ref, batch), index)
        results: list[Any] = [None] * len(batches)
        while calls:
            call, index, answer = calls.next_answer()
            if answer is TIMED_OUT:
                ray.cancel(call, force=True)
                answer = timed_out(self.timeout or 0, len(batches[index]))
            elif isinstance(answer, Exception):
                answer = self._failure(answer, len(batches[index]))
            results[index] = answer
        return list(zip(batches, results))

    def _run_actors(self, token: int, fn_ref: Any, batches: list[list[Any]]) -> list[Outcome]:
        """One batch in flight per actor; a batch whose actor died goes to a fresh actor."""
        results: list[Any] = [None] * len(batches)
        attempts = [0] * len(batches)
        waiting = deque(range(len(batches)))
        calls = _Calls(self.timeout)  # each: (actor slot, batch index)
        idle = deque(range(len(self.actors)))
        while waiting or calls:
            while waiting and idle:
                slot, index = idle.popleft(), waiting.popleft()
                calls.add(
                    self.actors[slot].run.remote(token, [fn_ref], batches[index]), (slot, index)
                )
            _, (slot, index), answer = calls.next_answer()
            if answer is TIMED_OUT:  # the actor may be stuck in the call for good
                self._replace_actor(slot)
                results[index] = timed_out(self.timeout or 0, len(batches[index]))
            elif not isinstance(answer, Exception):
                results[index] = answer
            elif self._retry_after_loss(answer, slot, attempts, index):
                waiting.appendleft(index)
            else:
                results[index] = self._failure(answer, len(batches[index]))
            idle.append(slot)
        return list(zip(batches, results))

    def _retry_after_loss(
        self, error: Exception, slot: int, attempts: list[int], index: int
    ) -> bool:
        """Replace the actor if Ray lost it; say whether its batch has retries left."""
        if not _worker_lost(error):
            return False
        self._replace_actor(slot)
        attempts[index] += 1
        return attempts[index] <= self.max_retries

    def _replace_actor(self, slot: int) -> None:
        import ray

        ray.kill(self.actors[slot])  # it may be unreachable rather than dead: make sure
        self.actors[slot] = self._new_actor()
        self.actor_restarts += 1

    def _failure(self, error: Exception, size: int) -> Exception:
        """The user's own exception when the function raised; a BackendError when Ray failed."""
        from ray.exceptions import RayTaskError

        if isinstance(error, RayTaskError) and isinstance(error.cause, Exception):
            return error.cause
        if _worker_lost(error):
            return BackendError(
                f"Ray lost the worker of a batch of {size} items {self.max_retries + 1} "
                f"time(s) (max_retries={self.max_retries}); last error: "
                f"{type(error).__name__}: {str(error).splitlines()[0]}"
            )
        return error


STARTED = "emb-opt: the call started"  # a worker's first item: the deadline counts from now
TIMED_OUT = object()  # `_Calls.next_answer`'s answer for a call past its deadline


class _Calls:
    """Calls in flight, each a streaming generator that yields STARTED, then the answer;
    `next_answer` waits for the next answer, a deadline `timeout` seconds after its start."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = math.inf if timeout is None else timeout
        self.keys: dict[Any, Any] = {}  # generator -> what the caller knows it by
        self.deadlines: dict[Any, float] = {}  # started generator -> when it is given up

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, call: Any, key: Any) -> None:
        self.keys[call] = key

    def next_answer(self) -> tuple[Any, Any, Any]:
        """(call, key, answer) of a call that is done: its outputs, the exception it raised
        (or Ray's), or TIMED_OUT; the call is forgotten."""
        import ray

        while True:
            first = min(self.deadlines, key=self.deadlines.__getitem__, default=None)
            wait = None if first is None else _left(self.deadlines[first])
            ready, _ = ray.wait(list(self.keys), num_returns=1, timeout=wait)
            if not ready:  # past the first deadline
                assert first is not None
                return first, self._forget(first), TIMED_OUT
            call: Any = ready[0]
            try:
                item = ray.get(next(call))
            except Exception as error:
                return call, self._forget(call), error
            if call in self.deadlines:  # its second item: the answer
                return call, self._forget(call), item
            self.deadlines[call] = time.monotonic() + self.timeout  # its first: STARTED

    def _forget(self, call: Any) -> Any:
        self.deadlines.pop(call, None)
        return self.keys.pop(call)


def _left(deadline: float) -> float | None:
    """Seconds until `deadline` (None: it is infinite), for Ray's `timeout=` arguments."""
    return None if deadline == math.inf else max(deadline - time.monotonic(), 0)


def _worker_lost(error: Exception) -> bool:
    """Did Ray lose the process running the batch (rather than the function raising)?"""
    from ray import exceptions

    lost = (
        exceptions.RayActorError,
        exceptions.WorkerCrashedError,
        exceptions.NodeDiedError,
        exceptions.LocalRayletDiedError,
    )
    # a function that raised is wrapped in a RayTaskError, which may subclass the above
    return isinstance(error, lost) and not isinstance(error, exceptions.RayTaskError)


@functools.cache
def _worker_class() -> Any:
    """The actor class (built on first use so importing this module does not import ray)."""
    import ray

    @ray.remote
    class BatchWorker:
        """Keeps every function it was sent, by token, and runs batches through it."""

        def __init__(self) -> None:
            self.functions: dict[int, BatchFunction] = {}

        def run(self, token: int, boxed_fn: list[Any], batch: list[Any]) -> Iterator[Any]:
            fn = self.functions.get(token)
            if fn is None:
                fn = self.functions[token] = ray.get(boxed_fn[0])
            yield STARTED
            yield fn(batch)

    return BatchWorker


@functools.cache
def _batch_task() -> Any:
    import ray

    @ray.remote
    def run_batch(fn: BatchFunction, batch: list[Any]) -> Iterator[Any]:
        yield STARTED
        yield fn(batch)

    return run_batch
