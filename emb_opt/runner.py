"""The search loop: data source -> filter -> score -> prune -> update, once per iteration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .calls import check_query_embeddings, coerce_responses, plugin_name
from .errors import PluginError, SearchAborted
from .executors import Executor, SerialExecutor
from .log import UNSCORED, SearchLog, item_key
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
    ScoreFunction,
    ScoreResponse,
    UpdateFunction,
    UpdateResponse,
)
from .stopping import StopRule


@dataclass(frozen=True)
class _Step:
    """How one per-item plugin (filter or score) is called, cached and applied."""

    role: str
    model: type[FilterResponse] | type[ScoreResponse]
    cache_name: str
    counter_name: str


_FILTER = _Step("filter function", FilterResponse, "filter_cache", "filter_calls")
_SCORE = _Step("score function", ScoreResponse, "score_cache", "score_calls")


class Runner:
    """Holds the five plugins of a search and runs it.

    `on_error="raise"` stops the search when the filter or score function raises, with the
    log of finished iterations kept; `"invalidate"` marks that batch's items invalid, with
    the exception text as the removal reason, and goes on.
    """

    def __init__(
        self,
        data_source: DataSourceFunction,
        filter_function: FilterFunction | None = None,
        score_function: ScoreFunction | None = None,
        prune_function: PruneFunction | None = None,
        update_function: UpdateFunction | None = None,
        *,
        executor: Executor | None = None,
        on_error: Literal["raise", "invalidate"] = "raise",
    ) -> None:
        if score_function is None or update_function is None:
            raise ValueError("Runner needs a score function and an update function")
        if on_error not in ("raise", "invalidate"):
            raise ValueError(f"on_error must be 'raise' or 'invalidate', got {on_error!r}")
        self.data_source = data_source
        self.filter_function = filter_function
        self.score_function = score_function
        self.prune_function = prune_function
        self.update_function = update_function
        self.executor: Executor = executor or SerialExecutor()
        self.on_error = on_error

    def search(
        self,
        batch: Batch | None,
        iterations: int,
        log: SearchLog | None = None,
        verbose: bool = True,
        *,
        stop: StopRule | None = None,
        on_iteration: Callable[[SearchLog], Any] | None = None,
    ) -> tuple[Batch, SearchLog]:
        """Run up to `iterations` iterations; return the next batch of queries and the log.

        Passing a log continues it (`batch=None` takes the queries the log left pending).
        """
        if not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
        log = log if log is not None else SearchLog()
        batch = batch if batch is not None else log.pending
        if batch is None:
            raise ValueError(
                "search needs a batch of start queries (or a log with pending queries)"
            )
        check_query_embeddings(
            batch.queries, getattr(self.data_source, "dimension", None), "start batch"
        )
        self._adopt(batch.queries, log.counters.iterations, parent_ids=None)
        stop = stop or StopRule()
        for _ in range(iterations):
            if not batch.valid_queries():
                break
            log.pending = batch
            began = time.perf_counter()
            try:
                self._iterate(batch, log, stop.score_budget(log))
                batch = self._update(batch, log)
            except SearchAborted:
                raise
            except Exception as error:
                raise SearchAborted(_abort_message(error, log), log) from error
            log.pending = batch
            log.record_iteration(time.perf_counter() - began)
            if verbose:
                print(_progress_line(log), flush=True)
            if on_iteration is not None:
                on_iteration(log)
            if stop.should_stop(log):
                break
        return batch, log

    def _iterate(self, batch: Batch, log: SearchLog, score_budget: int | None) -> None:
        queries = batch.valid_queries()
        self._query(queries, log)
        items = [item for query in queries for item in query.valid_results()]
        if self.filter_function is not None:
            self._evaluate(_FILTER, self.filter_function, items, log, None)
            items = [item for item in items if not item.internal.removed]
        if score_budget is not None:  # a partial budget goes to every query's nearest first
            items = _nearest_first(queries)
        self._evaluate(_SCORE, self.score_function, items, log, score_budget)
        if self.prune_function is not None:
            self._prune([q for q in queries if not q.internal.removed])
        log.add_batch(batch)

    def _query(self, queries: list[Query], log: SearchLog) -> None:
        iteration = log.counters.iterations
        outputs = self.data_source(queries)
        log.counters.data_source_calls += 1
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
            log.counters.returned_items += len(response.query_results)

    def _evaluate(
        self, step: _Step, fn: Any, items: list[Item], log: SearchLog, budget: int | None
    ) -> None:
        """Run `fn` once on every item it has not seen in this search; reuse cached answers."""
        cache: dict[str, Any] = getattr(log, step.cache_name)
        keys = [item_key(item) for item in items]
        todo: dict[str, Item] = {}
        for key, item in zip(keys, items):
            if key not in cache and key not in todo:
                todo[key] = item
        pending = list(todo.items())[: budget if budget is not None else None]
        for key, response in zip([k for k, _ in pending], self._call(step, fn, pending)):
            cache[key] = response
        setattr(
            log.counters, step.counter_name, getattr(log.counters, step.counter_name) + len(pending)
        )
        for key, item in zip(keys, items):
            response = cache.get(key)
            if response is None:
                item.remove(UNSCORED)
            elif step is _FILTER:
                _apply_filter(item, response)
            else:
                _apply_score(item, response)

    def _call(self, step: _Step, fn: Any, pending: list[tuple[str, Item]]) -> list[Any]:
        responses: list[Any] = []
        for batch, outcome in self.executor.run(fn, [item for _, item in pending]):
            if not isinstance(outcome, BaseException):
                responses += coerce_responses(step.role, fn, batch, outcome, step.model)
                continue
            failure = f"{step.role} {plugin_name(fn)!r} raised {type(outcome).__name__}: {outcome}"
            if self.on_error == "raise":
                raise PluginError(failure) from outcome
            responses += [step.model(valid=False, data={"error": failure})] * len(batch)
        return responses

    def _prune(self, queries: list[Query]) -> None:
        outputs = self.prune_function(queries)  # type: ignore[misc]
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
        outputs = self.update_function(queries)  # type: ignore[misc]
        if not isinstance(outputs, (list, tuple)):
            raise PluginError(
                f"update function {plugin_name(self.update_function)!r} must return a list, "
                f"got {type(outputs).__name__}"
            )
        responses = [
            r if isinstance(r, UpdateResponse) else UpdateResponse.model_validate(r)
            for r in outputs
        ]
        new_queries = [response.query for response in responses]
        parents = {query.internal.id: query for query in queries}
        self._adopt(new_queries, log.counters.iterations, [r.parent_id for r in responses], parents)
        check_query_embeddings(
            new_queries,
            getattr(self.data_source, "dimension", None),
            f"update function {plugin_name(self.update_function)!r} output",
        )
        return Batch(queries=new_queries)

    @staticmethod
    def _adopt(
        queries: list[Query],
        iteration: int,
        parent_ids: list[str | None] | None,
        parents: dict[str | None, Query] | None = None,
    ) -> None:
        """Give queries their tree bookkeeping: id, parent, collection and iteration."""
        for index, query in enumerate(queries):
            internal = query.internal
            if parent_ids is not None:
                internal.parent_id = parent_ids[index] or internal.parent_id
                internal.id = None
                internal.removed, internal.removal_reason = False, None
            internal.id = internal.id or f"{iteration}.{index}"
            internal.iteration = iteration
            parent = (parents or {}).get(internal.parent_id)
            if parent is not None:
                internal.collection_id = parent.internal.collection_id
            elif internal.collection_id is None:
                internal.collection_id = index


def _nearest_first(queries: list[Query]) -> list[Item]:
    """Valid results ordered by rank: every query's nearest, then every second nearest, ..."""
    ranked = [query.valid_results() for query in queries]
    depth = max((len(results) for results in ranked), default=0)
    return [results[rank] for rank in range(depth) for results in ranked if rank < len(results)]


def _merged(old: dict | None, new: dict | None) -> dict | None:
    if not new:
        return old
    return {**(old or {}), **new}


def _apply_filter(item: Item, response: FilterResponse) -> None:
    if response.data:
        item.data = _merged(item.data, response.data)
    if not response.valid:
        item.remove(response.data.get("error", "filtered out") if response.data else "filtered out")


def _apply_score(item: Item, response: ScoreResponse) -> None:
    if response.data:
        item.data = _merged(item.data, response.data)
    if response.valid and response.score is not None:
        item.score = response.score
    else:
        item.remove(
            response.data.get("error", "invalid score") if response.data else "invalid score"
        )


def _abort_message(error: Exception, log: SearchLog) -> str:
    done = log.counters.iterations
    return f"search stopped: {error} (the log keeps the {done} finished iteration(s))"


def _progress_line(log: SearchLog) -> str:
    counters = log.counters
    best = log.best()
    best_text = f"{best.score:.4f}" if best is not None and best.score is not None else "-"
    return (
        f"iteration {counters.iterations:>3}  best {best_text}  unique items {log.unique_items:>6}"
        f"  score calls {counters.score_calls:>6}  database calls {counters.data_source_calls:>4}"
    )
