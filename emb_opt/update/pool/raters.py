"""Where a pool round's rating runs: in this process (the default) or on a Ray cluster.

Both split the collection with the source's `partitions` and rate each part with the same
`RatingJob.rate_partition`; the shortlists merge in one order, so both give the same result.
On Ray each task opens its own copy of the source (`opener`), rates its part with the model
sent once per round and returns only its shortlist: the driver holds at most one shortlist
per finished part, never the collection. A task whose worker dies is run again by Ray (a part
is rated from its start each time, and its result is merged once), up to `max_retries` times.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ...checks import check_count, check_positive_int
from ...errors import BackendError, missing_dependency
from ...protocols import (
    Closable,
    DataSource,
    Partition,
    Partitioned,
    Reopenable,
    Scannable,
    lacks,
)
from .rating import RatingJob, rate_all
from .shortlist import Shortlist, merge


class Rater(Protocol):
    """Rates a whole collection for a pool round."""

    @property
    def workers(self) -> int:
        """How many parts are rated at once (what a round's time divides by)."""
        ...

    def shortlist(self, source: Scannable, job: RatingJob) -> Shortlist: ...

    def close(self) -> None: ...


class KnownParts:
    """A source's partitions, found at the first round and kept for the run: finding them may
    read every id (Qdrant, Milvus, LanceDB), and id ranges open at both ends stay a partition
    of the collection even when it grows."""

    def __init__(self) -> None:
        self._found: tuple[weakref.ref[Scannable], int, list[Partition]] | None = None

    def of(self, source: Scannable, count: int) -> list[Partition]:
        """The source's partitions (the whole scan as one part when it cannot split)."""
        if self._found is None or self._found[0]() is not source or self._found[1] != count:
            parts = source.partitions(count) if isinstance(source, Partitioned) else [Partition(0)]
            self._found = (weakref.ref(source), count, parts)
        return self._found[2]


class InProcessRater:
    """Rates the parts one after another in this process."""

    workers = 1

    def __init__(self, partitions: int = 1) -> None:
        self.partitions = check_positive_int("partitions", partitions)
        self._parts = KnownParts()

    def shortlist(self, source: Scannable, job: RatingJob) -> Shortlist:
        return rate_all(source, job, self._parts.of(source, self.partitions))

    def close(self) -> None:
        """Holds nothing."""


class RayRater:
    """Rates the parts as Ray tasks, on a cluster at `address` or on one started here.

    `workers`: tasks at once (None: the cluster's CPUs over `num_cpus`); `partitions`: parts
    per round (None: 4 per worker, so a slow part does not hold the round); `num_cpus` per task;
    `init_kwargs` go to `ray.init` when Ray is started here (and shut down by `close`).
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        partitions: int | None = None,
        num_cpus: float = 1,
        max_retries: int = 3,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise missing_dependency("ray", "ray") from None
        self.address = address
        self._workers = None if workers is None else check_positive_int("workers", workers)
        if partitions is not None:
            partitions = check_positive_int("partitions", partitions)
        self.partitions = partitions
        self._parts = KnownParts()
        self.num_cpus = num_cpus
        self.max_retries = check_count("max_retries", max_retries)
        self.init_kwargs = dict(init_kwargs or {})
        self._started_ray = False
        # the source, and its opener in Ray's object store
        self._opened: tuple[weakref.ref[Scannable], Any] | None = None

    @property
    def workers(self) -> int:
        if self._workers is not None:
            return self._workers
        ray = self._ray()
        return max(1, int(ray.cluster_resources().get("CPU", 1) // (self.num_cpus or 1)))

    def shortlist(self, source: Scannable, job: RatingJob) -> Shortlist:
        ray = self._ray()
        workers = self.workers
        parts = self._parts.of(source, self.partitions or 4 * workers)
        rate = ray.remote(_rate_part).options(
            num_cpus=self._task_cpus(ray), max_retries=self.max_retries, retry_exceptions=False
        )
        opener, sent_job = self._opener_ref(source), ray.put(job)
        waiting = iter(parts)
        running = [
            rate.remote(opener, part, sent_job) for part in itertools.islice(waiting, workers)
        ]
        kept = Shortlist.empty(0, job.model.weights.shape[1])
        while running:
            done, running = ray.wait(running, num_returns=1)
            try:
                found = ray.get(done[0])
            except ray.exceptions.RayError as error:
                for task in running:
                    ray.cancel(task, force=True)
                last = (str(error).strip().splitlines() or [type(error).__name__])[-1]
                raise BackendError(f"a Ray rating task failed: {last.strip()}") from None
            kept = merge([kept, found], job.size)
            running += [
                rate.remote(opener, part, sent_job) for part in itertools.islice(waiting, 1)
            ]
        return kept

    def _task_cpus(self, ray: Any) -> float:
        """`num_cpus`, or none when the cluster has no CPU free for a task (e.g. score actors
        hold them all, idle while the pool is rated): tasks then run beside them, at most
        `workers` at once, rather than wait forever."""
        free = ray.available_resources().get("CPU", 0.0)
        return self.num_cpus if free >= self.num_cpus else 0

    def close(self) -> None:
        """Drop the sent source; shut Ray down if this rater started it."""
        import ray

        self._opened = None
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    def _ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_kwargs)
            self._started_ray = True
            self._opened = None
        return ray

    def _opener_ref(self, source: Scannable) -> Any:
        """The source's opener in the object store, sent once for the whole run."""
        if self._opened is None or self._opened[0]() is not source:
            import ray

            self._opened = (weakref.ref(source), ray.put(self.opener_of(source)))
        return self._opened[1]

    @staticmethod
    def opener_of(source: Scannable) -> Callable[[], DataSource]:
        """How a Ray task opens `source`: a BackendError, naming why, when none can."""
        if not isinstance(source, Reopenable):
            raise BackendError(lacks("rating on Ray", source, Reopenable))
        return source.opener()


def _rate_part(opener: Callable[[], DataSource], partition: Partition, job: RatingJob) -> Shortlist:
    """In a Ray worker: open the source, rate one part, close it."""
    source = opener()
    try:
        return job.rate_partition(source, partition)
    finally:
        if isinstance(source, Closable):
            source.close()


def make_rater(spec: Rater | dict[str, Any] | None) -> Rater:
    """A rater from a `rating` block: `{executor: ray, address: ..., workers: ...,
    partitions: ...}` or `{executor: local, partitions: ...}` (None: in this process)."""
    if spec is None:
        return InProcessRater()
    if not isinstance(spec, dict):
        return spec
    options = dict(spec)
    executor = options.pop("executor", "local")
    kinds: dict[str, Any] = {"local": InProcessRater, "ray": RayRater}
    if executor not in kinds:
        raise ValueError(f"rating.executor must be 'local' or 'ray', got {executor!r}")
    try:
        return kinds[executor](**options)
    except TypeError as error:
        raise ValueError(
            f"rating: {executor} rating does not take {sorted(options)} ({error})"
        ) from None
