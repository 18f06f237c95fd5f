"""The search loop: data source -> filter -> score -> prune -> update, once per iteration."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .calls import blamed, check_query_embeddings, coerce_responses, non_finite, plugin_name
from .checks import check_count
from .direction import Direction, as_direction
from .errors import PluginError, PluginResponseError, SearchAborted
from .executors import Executor, SerialExecutor
from .log import GIVEN_UP, NOT_CHOSEN, UNSCORED, SearchLog, item_key
from .masking import mask_secrets
from .protocols import Searchable
from .schemas import (
    Batch,
    DataSourceFunction,
    DataSourceResponse,
    FilterFunction,
    FilterResponse,
    Item,
    PruneFunction,
    PruneResponse,
    Query,
    QueryInternal,
    ScoreFunction,
    ScoreResponse,
    UpdateFunction,
    UpdateResponse,
)
from .stopping import StopRule
from .update.base import Acquirer, SearchContext, Strategy
from .update.guided import GuidedUpdate

T = TypeVar("T")


@dataclass(frozen=True)
class _Step:
    """How one per-item plugin (filter or score) is called, cached and applied."""

    kind: str
    model: type[FilterResponse] | type[ScoreResponse]

    @property
    def role(self) -> str:
        return f"{self.kind} function"


_FILTER = _Step("filter", FilterResponse)
_SCORE = _Step("score", ScoreResponse)


class Runner:
    """Holds the five plugins of a search and runs it.

    Only the data source is required: `Runner(source, score_function=score)` searches with no
    filter or prune function and the model-guided strategy (`GuidedUpdate()`); the original
    positional form `Runner(data, filter, score, prune, update)` works as well. A runner
    without a score function serves `emb_opt.asktell.AskTell`, whose scores come from outside.

    `on_error="raise"` stops the search when the filter or score function raises, with the
    log of finished iterations kept; `"invalidate"` marks that batch's items invalid, with
    the exception text as the removal reason, and goes on. A `Strategy` update function is
    bound to a `SearchContext` (with `seed`) when a search starts; its state is kept in the
    log after every iteration and restored when a search continues a loaded log.

    `acquisition` (by default the update function, when it is an `Acquirer`) chooses which of
    the retrieved, not yet scored items are scored; the others are kept as candidates.

    `direction="minimize"` starts logs that search for the lowest scores (docking scores,
    IC50s). The log owns its direction: a log given to `search` (or `AskTell`) is searched
    the way it holds, so a resumed search goes on as it began. Scores stay in their units in
    the log and results; the prune and update functions see each result's score oriented
    (negated when minimizing), so every strategy maximizes.
    """

    def __init__(
        self,
        data_source: Searchable | DataSourceFunction,
        filter_function: FilterFunction | None = None,
        score_function: ScoreFunction | None = None,
        prune_function: PruneFunction | None = None,
        update_function: UpdateFunction | None = None,
        *,
        executor: Executor | None = None,
        on_error: Literal["raise", "invalidate"] = "raise",
        seed: int = 0,
        acquisition: Acquirer | None = None,
        direction: Direction | str = "maximize",
    ) -> None:
        """A runner over `data_source` with the given plugins.

        Args:
            data_source: called with queries, one `DataSourceResponse` each; a `Searchable`
                one's dimension is checked before each database call, a `Sampleable` or
                `Scannable` one lets strategies sample or scan (see `emb_opt.protocols`).
            filter_function: a per-item predicate run before scoring (None: no filter).
            score_function: the objective (None: for `AskTell` only, whose scores are told).
            prune_function: drops weak queries before they spawn children (None: no prune).
            update_function: the strategy (None: `GuidedUpdate()`).
            executor: runs the filter and score functions (None: in this thread, serially).
            on_error: "raise" or "invalidate" when the filter or score function raises.
            seed: handed to a `Strategy` through its `SearchContext`.
            acquisition: chooses which retrieved items are scored (None: the update function,
                when it is an `Acquirer`).
            direction: "maximize" or "minimize" the score, in the logs this runner starts
                (`new_log`); a log given keeps its own.
        """
        update_function = update_function if update_function is not None else GuidedUpdate()
        for role, plugin in [
            ("data source", data_source),
            ("filter function", filter_function),
            ("score function", score_function),
            ("prune function", prune_function),
            ("update function", update_function),
        ]:
            if plugin is not None and not callable(plugin):
                raise TypeError(f"the {role} must be callable, got {type(plugin).__name__}")
        if on_error not in ("raise", "invalidate"):
            raise ValueError(f"on_error must be 'raise' or 'invalidate', got {on_error!r}")
        self.data_source = data_source
        self.filter_function = filter_function
        self.score_function = score_function
        self.prune_function = prune_function
        self.update_function = update_function
        self.executor: Executor = executor or SerialExecutor()
        self.on_error = on_error
        self.seed = seed
        self.acquisition = acquisition or _acquirer_in(update_function)
        self.direction = as_direction(direction)  # of the logs it starts; a log owns its own
        self._bound_log: SearchLog | None = None

    @property
    def dimension(self) -> int | None:
        """The length of the data source's vectors (None: a plain function does not say)."""
        return self.data_source.dimension if isinstance(self.data_source, Searchable) else None

    def search(
        self,
        batch: Batch | None,
        iterations: int | None = None,
        log: SearchLog | None = None,
        verbose: bool = True,
        *,
        stop: StopRule | None = None,
        on_iteration: Callable[[SearchLog], Any] | None = None,
        known: Sequence[tuple[Item, float | None]] = (),
    ) -> tuple[Batch, SearchLog]:
        """Search until the stop rule says so; return the next batch of queries and the log.

        `stop` decides, before every iteration, whether the search goes on (see `StopRule`);
        `iterations` is a shorthand for a cap of that many more iterations, folded into it
        (`StopRule.capped`: the lower cap wins). One of the two is needed.
        Passing a log continues it (`batch=None` takes the queries the log left pending), in
        the log's direction. `known` are (item, score) pairs scored before the search (score
        None: invalid): they count as scored, feed the strategy, are never scored again and
        spend no score calls. `on_iteration(log)` is called after every iteration.

        Returns:
            (the next batch of queries, the log).
        """
        if iterations is None and stop is None:
            raise ValueError("search needs iterations=N or stop=StopRule(...) to know when to end")
        if iterations is not None:
            check_count("iterations", iterations)
        if self.score_function is None:
            raise ValueError(
                "this Runner has no score function: pass score_function=..., or use "
                "emb_opt.asktell.AskTell to take scores from outside"
            )
        log = log if log is not None else self.new_log()
        batch = batch if batch is not None else log.pending
        if batch is None:
            raise ValueError(
                "search needs a batch of start queries (or a log with pending queries)"
            )
        check_query_embeddings(batch.queries, self.dimension, "start batch")
        self.start(batch, log)
        for item, score in known:
            log.add_known(item, score)
        stop = stop or StopRule()
        if iterations is not None:
            stop = stop.capped(log.counters.iterations + iterations)
        log.pending = batch
        while not stop.should_stop(log):
            step = guarded(self.begin, log, batch, log, stop.score_budget(log))
            responses = guarded(self._call, log, _SCORE, self.score_function, step.todo)
            batch = guarded(self.finish, log, step, log, responses)
            if verbose:
                print(_progress_line(log), flush=True)
            if on_iteration is not None:
                on_iteration(log)
        return batch, log

    def new_log(self) -> SearchLog:
        """An empty log in this runner's direction."""
        return SearchLog(direction=self.direction)

    def _bind_strategy(self, log: SearchLog) -> None:
        """Give a `Strategy` its context for `log`, with the state the log saved, if any."""
        if self._bound_log is log:
            return
        context = SearchContext(log, self.data_source, self.seed)
        for plugin in (self.update_function, self.acquisition):
            if isinstance(plugin, Strategy):
                plugin.bind(context)
        if isinstance(self.update_function, Strategy) and log.strategy_state is not None:
            self.update_function.restore(log.strategy_state)
        self._bound_log = log

    def start(self, batch: Batch, log: SearchLog) -> None:
        """Ready a search of `log` from `batch`: number the start queries, bind the strategy."""
        check_query_embeddings(batch.queries, self.dimension, "start batch")
        self._start_trajectories(batch.queries, log)
        self._bind_strategy(log)

    def begin(self, batch: Batch, log: SearchLog, score_budget: int | None) -> Step:
        """The first half of an iteration: retrieve, filter, choose what to score.

        Returns the `Step` whose `todo` items the score function (or someone outside the
        process) must answer; `finish` takes the answers. The strategy's state is saved in the
        log, since choosing may change it.
        """
        log.pending = batch
        began = time.perf_counter()
        queries = batch.valid_queries()
        self._query(queries, log)
        items = [item for query in queries for item in query.valid_results()]
        if self.filter_function is not None:
            self._evaluate(_FILTER, self.filter_function, items, log)
            items = [item for item in items if not item.internal.removed]
        if self.acquisition is not None:
            items = self._acquire(batch, items, log, score_budget)
            score_budget = None
        elif score_budget is not None:  # a partial budget goes to every query's nearest first
            items = _nearest_first(queries)
        self._save_strategy(log)
        return Step(batch, items, _unseen(items, log.cache("score"))[:score_budget], began)

    def finish(self, step: Step, log: SearchLog, responses: list[ScoreResponse]) -> Batch:
        """The second half of an iteration: keep the scores (`responses`, one per `step.todo`
        item, in order; a given-up one spends no score call), prune, record the iteration and
        let the strategy propose the next queries, which it returns."""
        if len(responses) != len(step.todo):
            raise ValueError(f"{len(step.todo)} items to score, got {len(responses)} responses")
        for (key, _), response in zip(step.todo, responses):
            invalid = non_finite(response, self.score_function)
            if invalid is not None:
                log.count("non_finite_scores")
            log.remember("score", key, invalid or response)
        log.count("score_calls", sum(not _given_up(r) for r in responses))
        _apply_cached(_SCORE, step.items, log)
        queries = step.batch.valid_queries()
        if self.prune_function is not None:
            self._prune([q for q in queries if not q.internal.removed], log)
        log.add_batch(step.batch)
        batch = self._update(step.batch, log)
        log.pending = batch
        log.record_iteration(time.perf_counter() - step.began)
        return batch

    def _acquire(
        self, batch: Batch, items: list[Item], log: SearchLog, budget: int | None
    ) -> list[Item]:
        """Let the acquisition step choose what to score; keep the rest as candidates.

        Returns the items to score: the retrieved ones already scored (their answers are
        reused), the chosen retrieved ones, and chosen items no query of this batch retrieved,
        which go to `batch.acquired` (after the filter function, when there is one).
        """
        assert self.acquisition is not None
        scored = log.cache("score")
        keyed = [(item_key(item), item) for item in items]
        fresh: dict[str, Item] = {}
        for key, item in keyed:
            if key not in scored:
                fresh.setdefault(key, item)
        with blamed("acquisition", self.acquisition):
            chosen = self.acquisition.acquire(list(fresh.values()), budget)
        keys = _check_chosen(chosen, scored, budget, self.acquisition)
        keep = []
        for key, item in keyed:
            if key in scored or key in keys:
                keep.append(item)
            else:
                item.remove(NOT_CHOSEN)
        iteration = log.counters.iterations
        extra = [_copy(item, iteration) for key, item in keys.items() if key not in fresh]
        if extra and self.filter_function is not None:
            self._evaluate(_FILTER, self.filter_function, extra, log)
        batch.acquired = extra
        return keep + [item for item in extra if not item.internal.removed]

    def _query(self, queries: list[Query], log: SearchLog) -> None:
        iteration = log.counters.iterations
        with blamed("data source", self.data_source):
            outputs = self.data_source(queries)
        log.count("data_source_calls")
        responses = coerce_responses(
            "data source", self.data_source, queries, outputs, DataSourceResponse
        )
        for query, response in zip(queries, responses):
            if not response.valid:
                query.remove("data source marked the query invalid")
            query.data = _merged(query.data, response.data)
            query.query_results = response.query_results
            for item in response.query_results:
                item.internal.query_id = query.internal.id
                item.internal.iteration = iteration
            log.count("returned_items", len(response.query_results))

    def _evaluate(self, step: _Step, fn: Any, items: list[Item], log: SearchLog) -> None:
        """Run `fn` once on every item it has not seen in this search; reuse cached answers."""
        pending = _unseen(items, log.cache(step.kind))
        for (key, _), response in zip(pending, self._call(step, fn, pending)):
            log.remember(step.kind, key, response)
        log.count(f"{step.kind}_calls", len(pending))
        _apply_cached(step, items, log)

    def _call(self, step: _Step, fn: Any, pending: list[tuple[str, Item]]) -> list[Any]:
        responses: list[Any] = []
        with blamed(step.role, fn):
            outcomes = self.executor.run(fn, [item for _, item in pending])
        for batch, outcome in outcomes:
            if not isinstance(outcome, BaseException):
                answers = coerce_responses(step.role, fn, batch, outcome, step.model)
                responses += [_without_secrets(answer) for answer in answers]
                continue
            failure = mask_secrets(  # it goes into the log and the manifest
                f"{step.role} {plugin_name(fn)!r} raised {type(outcome).__name__}: {outcome}"
            )
            if self.on_error == "raise" and isinstance(outcome, PluginResponseError):
                raise outcome  # an answer of the wrong shape (a remote function's, say)
            if self.on_error == "raise":
                raise PluginError(failure) from outcome
            responses += [step.model(valid=False, data={"error": failure})] * len(batch)
        return responses

    def _prune(self, queries: list[Query], log: SearchLog) -> None:
        assert self.prune_function is not None
        with blamed("prune function", self.prune_function):
            outputs = self.prune_function(_oriented(queries, log.direction))
        for query, response in zip(
            queries,
            coerce_responses(
                "prune function", self.prune_function, queries, outputs, PruneResponse
            ),
        ):
            query.data = _merged(query.data, response.data)
            if not response.valid:
                query.remove("pruned")

    def _update(self, batch: Batch, log: SearchLog) -> Batch:
        queries = batch.valid_queries()
        if not queries:
            return Batch(queries=[])
        with blamed("update function", self.update_function):
            outputs = self.update_function(_oriented(queries, log.direction))
        if not isinstance(outputs, (list, tuple)):
            raise PluginResponseError(
                f"update function {plugin_name(self.update_function)!r} must return a list, "
                f"got {type(outputs).__name__}"
            )
        responses = [
            r if isinstance(r, UpdateResponse) else UpdateResponse.model_validate(r)
            for r in outputs
        ]
        self._save_strategy(log)
        new_queries = [response.query for response in responses]
        self._adopt(new_queries, [r.parent_id for r in responses], queries, log)
        check_query_embeddings(
            new_queries,
            self.dimension,
            f"update function {plugin_name(self.update_function)!r} output",
        )
        return Batch(queries=new_queries)

    def _save_strategy(self, log: SearchLog) -> None:
        if isinstance(self.update_function, Strategy):
            log.strategy_state = self.update_function.state()

    @staticmethod
    def _start_trajectories(queries: list[Query], log: SearchLog) -> None:
        """Give start queries their tree bookkeeping; each unnumbered one starts a trajectory."""
        for index, query in enumerate(queries):
            internal = query.internal
            internal.id = internal.id or f"{log.counters.iterations}.{index}"
            internal.iteration = log.counters.iterations
            if internal.collection_id is None:
                internal.collection_id = index
            log.counters.trajectories = max(log.counters.trajectories, internal.collection_id + 1)

    @staticmethod
    def _adopt(
        queries: list[Query], parent_ids: list[str | None], parents: list[Query], log: SearchLog
    ) -> None:
        """Give an update's queries their bookkeeping: id, parent, trajectory and iteration.

        A query with a parent continues its parent's trajectory; one without starts a new one.
        """
        by_id = {parent.internal.id: parent for parent in parents}
        iteration = log.counters.iterations
        for index, (query, parent_id) in enumerate(zip(queries, parent_ids)):
            parent = by_id.get(parent_id)
            query.internal = QueryInternal(
                id=f"{iteration}.{index}", parent_id=parent_id, iteration=iteration
            )
            if parent is not None:
                query.internal.collection_id = parent.internal.collection_id
            else:
                query.internal.collection_id = log.counters.trajectories
                log.count("trajectories")


@dataclass
class Step:
    """An iteration between choosing what to score and scoring it.

    `todo` are the (key, item) pairs to score, each item once, in order; `items` every item
    the scores then apply to (repeats and items already scored included).
    """

    batch: Batch
    items: list[Item]
    todo: list[tuple[str, Item]]
    began: float


def _unseen(items: list[Item], cache: dict[str, Any]) -> list[tuple[str, Item]]:
    """(key, item) of each item `cache` has no answer for, once per key, in order."""
    todo: dict[str, Item] = {}
    for item in items:
        key = item_key(item)
        if key not in cache and key not in todo:
            todo[key] = item
    return list(todo.items())


def _apply_cached(step: _Step, items: list[Item], log: SearchLog) -> None:
    """Apply the cached answers of `step`'s function to `items`; one without is unscored."""
    cache = log.cache(step.kind)
    for item in items:
        response = cache.get(item_key(item))
        if response is None:
            item.remove(UNSCORED)
        elif step is _FILTER:
            _apply_filter(item, response)
        else:
            apply_score(item, response)


def _acquirer_in(update: Any) -> Acquirer | None:
    """The update function, or a strategy it wraps, when it chooses what to score."""
    if isinstance(update, Acquirer):
        return update
    if isinstance(update, Strategy):
        return next((s for s in update.inner() if isinstance(s, Acquirer)), None)
    return None


def _check_chosen(
    chosen: Any, scored: dict[str, Any], budget: int | None, acquisition: Any
) -> dict[str, Item]:
    """The chosen items by key; a PluginError when they are not new items within budget."""
    where = f"acquisition {plugin_name(acquisition)!r}"
    if not isinstance(chosen, list) or not all(isinstance(item, Item) for item in chosen):
        raise PluginError(f"{where} must return a list of Items, got {type(chosen).__name__}")
    keys = {item_key(item): item for item in chosen}
    if len(keys) < len(chosen) or any(key in scored for key in keys):
        raise PluginError(f"{where} chose an item twice or one already scored")
    if budget is not None and len(keys) > budget:
        raise PluginError(f"{where} chose {len(keys)} items with a budget of {budget}")
    return keys


def _copy(item: Item, iteration: int) -> Item:
    """A fresh, unscored copy of a candidate item for the iteration that scores it."""
    copy = Item.trusted(item.id, item.item, item.embedding, item.data, item.internal.distance)
    copy.internal.query_id = item.internal.query_id
    copy.internal.iteration = iteration
    return copy


def _oriented(queries: list[Query], direction: Direction) -> list[Query]:
    """`queries` as the prune and update functions see them: each result's score oriented
    so that higher is better (the queries themselves when maximizing; copies otherwise)."""
    if direction.sign > 0:
        return queries
    return [
        query.model_copy(
            update={
                "query_results": [
                    item if item.score is None
                    else item.model_copy(update={"score": direction.orient(item.score)})
                    for item in query.query_results
                ]
            }
        )
        for query in queries
    ]  # fmt: skip


def _nearest_first(queries: list[Query]) -> list[Item]:
    """Valid results ordered by rank: every query's nearest, then every second nearest, ..."""
    ranked = [query.valid_results() for query in queries]
    depth = max((len(results) for results in ranked), default=0)
    return [results[rank] for rank in range(depth) for results in ranked if rank < len(results)]


def _without_secrets(response: Any) -> Any:
    """An invalid filter or score response with the secrets in its data (its `error`, a
    removal reason in the log) masked; a valid one as it is."""
    if response.valid or not response.data:
        return response
    return response.model_copy(update={"data": mask_secrets(response.data)})


def _merged(old: dict | None, new: dict | None) -> dict | None:
    if not new:
        return old
    return {**(old or {}), **new}


def _apply_filter(item: Item, response: FilterResponse) -> None:
    if response.data:
        item.data = _merged(item.data, response.data)
    if not response.valid:
        item.remove(response.data.get("error", "filtered out") if response.data else "filtered out")


def _given_up(response: ScoreResponse) -> bool:
    """Whether `response` says an asked item was given up (it spends no score call)."""
    return not response.valid and (response.data or {}).get("error") == GIVEN_UP


def apply_score(item: Item, response: ScoreResponse) -> None:
    if response.data:
        item.data = _merged(item.data, response.data)
    if response.valid and response.score is not None:
        item.score = response.score
    else:
        item.remove(
            response.data.get("error", "invalid score") if response.data else "invalid score"
        )


def guarded(call: Callable[..., T], log: SearchLog, *args: Any) -> T:
    """`call(*args)`, a step of a search of `log`; whatever it raises (but `SearchAborted`)
    becomes a `SearchAborted` holding the log of the finished iterations."""
    try:
        return call(*args)
    except SearchAborted:
        raise
    except Exception as error:
        done = log.counters.iterations
        message = f"search stopped: {error} (the log keeps the {done} finished iteration(s))"
        raise SearchAborted(message, log) from error


def _progress_line(log: SearchLog) -> str:
    counters = log.counters
    best = log.best()
    best_text = f"{best.score:.4f}" if best is not None and best.score is not None else "-"
    return (
        f"iteration {counters.iterations:>3}  best {best_text}  unique items {log.unique_items:>6}"
        f"  score calls {counters.score_calls:>6}  database calls {counters.data_source_calls:>4}"
    )
