"""The strategy contract: what the runner lends a strategy, and how its state is saved.

A strategy turns scored queries into the next queries. A plain callable is enough for a
stateless one (`RLUpdate`); a stateful one subclasses `Strategy` (Optuna's `BaseSampler` is
the model): the runner `bind`s it to a `SearchContext` when a search starts, saves `state()`
with every checkpoint and `restore`s it when a search resumes, so a resumed search gives the
uninterrupted result. `TrajectoryStrategy` keeps one state per start query and leaves only
the step to its subclasses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ..codec import decode, encode
from ..errors import PluginError
from ..protocols import (
    SCAN_BATCH,
    Describable,
    Fetchable,
    Sampleable,
    ScanBatch,
    Scannable,
    Searchable,
    StoredField,
    lacks,
)
from ..schemas import DataSourceFunction, Item, Query, UpdateResponse
from .memory import ScoredMemory, by_trajectory

if TYPE_CHECKING:
    from ..log import SearchLog
    from .pool import Rater, RatingJob, Shortlist


@runtime_checkable
class Acquirer(Protocol):
    """Chooses which retrieved items are scored (the rest stay candidates)."""

    def acquire(self, fresh: list[Item], budget: int | None) -> list[Item]:
        """Items to score now: any of `fresh` (retrieved this iteration, never scored), of
        the context's `candidates`, or of a scan; at most `budget` (None: no limit)."""
        ...


class SearchContext:
    """What the runner lends a strategy for one search.

    `seed` (the run's seed), `memory` (the valid scored items of the search, in scoring
    order, their scores oriented so that higher is better: see `emb_opt.direction`),
    `candidates` (items retrieved earlier and not chosen for scoring) and counted reads of
    the collection; never the score function.
    """

    def __init__(
        self, log: SearchLog, source: Searchable | DataSourceFunction, seed: int = 0
    ) -> None:
        self.seed = seed
        self._log = log
        self._source = source
        self._memory = ScoredMemory()

    @property
    def memory(self) -> ScoredMemory:
        self._memory.sync(self._log)
        return self._memory

    @property
    def scored(self) -> Collection[str]:
        """Keys of every item scored in this search (valid or not)."""
        return self._log.cache("score")

    def data(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """The stored fields (`Item.data`) of scored items, by key."""
        items = self._log.items
        return [items[key].data for key in keys]

    @property
    def candidates(self) -> dict[str, Item]:
        """Items retrieved but not chosen for scoring, by item key, oldest first."""
        return self._log.candidates

    def sample(self, n: int, seed: int) -> list[Item]:
        """`n` distinct items of the collection that pass its filter (one database call)."""
        source = self._source
        if not isinstance(source, Sampleable):
            raise PluginError(lacks("the strategy", source, Sampleable))
        self._log.count("data_source_calls")
        return source.sample(n, seed=seed)

    def count(self) -> int:
        """How many items of the collection pass its filter (one database call)."""
        source = self._scannable()
        self._log.count("data_source_calls")
        return int(source.count())

    def scan(
        self, batch_size: int = SCAN_BATCH, fields: Sequence[str] | None = None
    ) -> Iterator[ScanBatch]:
        """Every item of the collection that passes its filter, in `ScanBatch`es (each batch
        one database call); with `fields`, only those fields as `columns` where the source is
        `Describable` (else every field, as `metadata`)."""
        source = self._scannable()
        if fields is not None and isinstance(source, Describable):
            batches = source.scan(batch_size, fields=fields)
        else:
            batches = source.scan(batch_size)
        for batch in batches:
            self._log.count("data_source_calls")
            yield batch

    def stored_fields(self) -> list[StoredField]:
        """What the collection stores beside its vectors (nothing when the source cannot
        say; one or two database calls)."""
        if not isinstance(self._source, Describable):
            return []
        self._log.count("data_source_calls")
        return list(self._source.stored_fields())

    def fetch(self, ids: Sequence[Any]) -> list[Item]:
        """The items with these ids, whole (one database call per 1,000 ids)."""
        source = self._source
        if not isinstance(source, Fetchable):
            raise PluginError(lacks("the strategy", source, Fetchable))
        self._log.count("data_source_calls")
        return source.fetch(ids)

    def rate(self, job: RatingJob, rater: Rater) -> Shortlist:
        """The collection rated by `rater` for a pool round (a database call per scan batch)."""
        source = self._scannable()
        found = rater.shortlist(source, job)
        self._log.count("data_source_calls", found.reads)
        return found

    def supports(self, tier: type) -> bool:
        """Whether the collection can be read through `tier` (`Sampleable`, `Scannable`)."""
        return isinstance(self._source, tier)

    def _scannable(self) -> Scannable:
        if not isinstance(self._source, Scannable):
            raise PluginError(lacks("the strategy", self._source, Scannable))
        return self._source


class Strategy(ABC):
    """Base of stateful strategies.

    Subclasses name the attributes that change during a search in `STATE` (set in `reset`)
    and the dataclasses those hold in `STATE_TYPES`; `state()` and `restore()` then cover
    them exactly, RNG included. A strategy attribute that is itself a `Strategy` is bound,
    saved and restored with it.
    """

    STATE: ClassVar[tuple[str, ...]] = ()
    STATE_TYPES: ClassVar[tuple[type, ...]] = ()
    context: SearchContext

    @abstractmethod
    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        """The next queries, from the scored queries of the iteration just finished."""

    def reset(self) -> None:
        """Set the search state to its start (called by `bind`)."""

    def bind(self, context: SearchContext) -> None:
        """Start a search: keep the context and reset the state."""
        self.context = context
        self.reset()
        for inner in self.inner():
            inner.bind(context)

    def state(self) -> dict[str, Any]:
        """Every piece of search state, as JSON data."""
        saved = {name: encode(getattr(self, name)) for name in self.STATE}
        inner = {name: strategy.state() for name, strategy in self._inner_by_name().items()}
        return {"fields": saved, "inner": inner}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a state saved by `state()` (after `bind`)."""
        for name, value in state["fields"].items():
            setattr(self, name, decode(value, self.STATE_TYPES))
        for name, strategy in self._inner_by_name().items():
            strategy.restore(state["inner"][name])

    def _inner_by_name(self) -> dict[str, Strategy]:
        return {k: v for k, v in vars(self).items() if isinstance(v, Strategy)}

    def inner(self) -> list[Strategy]:
        """The strategies this one wraps."""
        return list(self._inner_by_name().values())


def as_float64(vector: np.ndarray) -> np.ndarray:
    """Strategies compute in float64, so a saved and reloaded search (whose JSON keeps no
    dtype) repeats every rounding of the uninterrupted one."""
    return np.asarray(vector, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Scored:
    """A valid scored result and the query that retrieved it (`score` is never None; in a
    strategy it is oriented so that higher is better, as the runner hands it over)."""

    query: Query
    item: Item
    score: float

    @property
    def embedding(self) -> np.ndarray:
        return as_float64(self.item.embedding)

    @property
    def query_embedding(self) -> np.ndarray:
        return as_float64(self.query.embedding)


def scored_results(queries: list[Query]) -> list[Scored]:
    """The valid scored results of `queries`, in order."""
    return [
        Scored(query, item, float(item.score))
        for query in queries
        for item in query.valid_results()
        if item.score is not None
    ]


def knn_radius(scored: list[Scored]) -> float | None:
    """Median distance from queries to their scored results: the local scale of the data."""
    distances = [float(np.linalg.norm(s.embedding - s.query_embedding)) for s in scored]
    return float(np.median(distances)) if distances else None


class TrajectoryStrategy(Strategy):
    """A strategy with one state per trajectory (the start query's `collection_id`).

    Subclasses implement `step`; this base owns the seeded RNG, the per-trajectory states in
    `trajectories`, and `known`: how many memory rows existed before the current call (rows
    at or past it arrived with this iteration).
    """

    STATE = ("rng", "trajectories", "known")

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.context.seed if self.seed is None else self.seed)
        self.trajectories: dict[int | None, Any] = {}
        self.known = 0

    @property
    def memory(self) -> ScoredMemory:
        return self.context.memory

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        responses: list[UpdateResponse] = []
        for key, group in by_trajectory(queries).items():
            scored = scored_results(group)
            if scored:
                responses += self.step(key, scored)
        self.known = len(self.memory)
        return responses

    @abstractmethod
    def step(self, key: int | None, scored: list[Scored]) -> list[UpdateResponse]:
        """The next queries of trajectory `key` from its scored results (never empty)."""


def child(point: np.ndarray, parent: Scored, data: dict | None = None) -> UpdateResponse:
    """A new query at `point`, continuing the trajectory of `parent`'s query."""
    return UpdateResponse(
        query=Query(embedding=point, data=data), parent_id=parent.query.internal.id
    )
