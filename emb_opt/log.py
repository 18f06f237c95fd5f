"""The search log: every batch, the query tree, the unique scored items and the counters."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from .atomic import write_atomically
from .schemas import Batch, FilterResponse, Item, Query, ScoreResponse

UNSCORED = "score budget exhausted"  # why an item retrieved after the budget ran out is invalid
NOT_CHOSEN = "not chosen for scoring"  # retrieved, kept as a candidate, not scored (yet)


def item_key(item: Item) -> str:
    """The identity of an item within a search: its id, or its embedding when it has none."""
    if item.id is not None:
        return repr(item.id)
    return "emb:" + hashlib.sha1(item.embedding.tobytes()).hexdigest()


class QueryNode:
    """One query in the tree, linked to the query it came from and those it produced."""

    def __init__(self, query: Query, parent: QueryNode | None) -> None:
        self.query = query
        self.parent = parent
        self.children: list[QueryNode] = []

    @property
    def id(self) -> str | None:
        return self.query.internal.id

    @property
    def iteration(self) -> int | None:
        return self.query.internal.iteration

    @property
    def removed(self) -> bool:
        return self.query.internal.removed

    @property
    def scores(self) -> list[float]:
        """Scores of the query's valid results."""
        return [i.score for i in self.query.valid_results() if i.score is not None]

    @property
    def mean_score(self) -> float | None:
        scores = self.scores
        return sum(scores) / len(scores) if scores else None

    @property
    def max_score(self) -> float | None:
        return max(self.scores, default=None)

    def path(self) -> list[QueryNode]:
        """The nodes from the root down to this one."""
        nodes: list[QueryNode] = []
        node: QueryNode | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]

    def __repr__(self) -> str:
        return f"QueryNode(id={self.id!r}, mean_score={self.mean_score})"


class QueryTree:
    """Queries linked parent -> children across iterations."""

    def __init__(self) -> None:
        self.nodes: dict[str, QueryNode] = {}

    def add(self, query: Query) -> QueryNode:
        parent = self.nodes.get(query.internal.parent_id or "")
        node = QueryNode(query, parent)
        if parent is not None:
            parent.children.append(node)
        self.nodes[query.internal.id or f"#{len(self.nodes)}"] = node
        return node

    def leaf_nodes(self, include_removed: bool = False) -> list[QueryNode]:
        """Queries with no children (the ends of trajectories)."""
        return [
            node
            for node in self.nodes.values()
            if not node.children and (include_removed or not node.removed)
        ]

    def __len__(self) -> int:
        return len(self.nodes)


@dataclass
class Counters:
    """How much a search has cost so far."""

    iterations: int = 0
    data_source_calls: int = 0
    filter_calls: int = 0
    score_calls: int = 0
    queries: int = 0
    returned_items: int = 0
    trajectories: int = 0


CACHES = ("filter", "score")


@dataclass
class SearchLog:
    """Everything a search did, enough to inspect it later or resume it."""

    batches: list[Batch] = field(default_factory=list)
    items: dict[str, Item] = field(default_factory=dict)
    filter_cache: dict[str, FilterResponse] = field(default_factory=dict)
    score_cache: dict[str, ScoreResponse] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    pending: Batch | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    strategy_state: dict[str, Any] | None = None
    candidates: dict[str, Item] = field(default_factory=dict, repr=False)
    best_item: Item | None = field(default=None, repr=False)
    query_tree: QueryTree = field(default_factory=QueryTree, repr=False)

    def cache(self, kind: str) -> dict[str, Any]:
        """The answers of the `kind` function ("filter" or "score") by item key."""
        if kind not in CACHES:
            raise ValueError(f"cache kind must be one of {', '.join(CACHES)}, got {kind!r}")
        return self.filter_cache if kind == "filter" else self.score_cache

    def count(self, counter: str, n: int = 1) -> None:
        """Add `n` to the counter named `counter` (a field of `Counters`)."""
        if counter not in _COUNTER_NAMES:
            raise ValueError(f"unknown counter {counter!r}; expected one of {_COUNTER_NAMES}")
        setattr(self.counters, counter, getattr(self.counters, counter) + n)

    def add_batch(self, batch: Batch) -> None:
        """Record a finished iteration: its queries, their results and the unique items.

        Items an acquisition step did not choose become `candidates` until they are scored.
        """
        self.batches.append(batch)
        self.counters.iterations += 1
        for query in batch.queries:
            self.query_tree.add(query)
            for item in query.query_results:
                self._add_item(item)
        for item in batch.acquired:
            self._add_item(item)

    def _add_item(self, item: Item) -> None:
        reason = item.internal.removal_reason
        if reason == UNSCORED:
            return  # retrieved after the budget ran out: not a result of this search
        key = item_key(item)
        if reason == NOT_CHOSEN:
            if key not in self.items:
                self.candidates.setdefault(key, item)
            return
        self.candidates.pop(key, None)
        known = self.items.get(key)
        if known is None or (known.internal.removed and not item.internal.removed):
            self.items[key] = item
        if _beats(item, self.best_item):
            self.best_item = item

    def record_iteration(self, seconds: float) -> None:
        """Append the figures of the iteration just finished to `history`."""
        scores = [
            item.score
            for query in self.batches[-1].queries
            for item in query.valid_results()
            if item.score is not None
        ]
        best = self.best()
        self.history.append(
            {
                "iteration": self.counters.iterations,
                "seconds": seconds,
                "score_calls": self.counters.score_calls,
                "data_source_calls": self.counters.data_source_calls,
                "unique_items": self.unique_items,
                "best_score": None if best is None else best.score,
                "mean_score": sum(scores) / len(scores) if scores else None,
            }
        )

    @property
    def unique_items(self) -> int:
        """Items scored (or rejected by the filter) during the search."""
        return len(self.items)

    def best(self) -> Item | None:
        """The highest-scoring valid item so far."""
        return self.best_item

    def compile_results(self, skip_removed: bool = True) -> list[dict[str, Any]]:
        """Unique items as dicts, best first."""
        items = [i for i in self.items.values() if not (skip_removed and i.internal.removed)]
        items.sort(key=lambda i: float("-inf") if i.score is None else i.score, reverse=True)
        return [_result_row(item) for item in items]

    def mark(self) -> LogMark:
        """How much of the log exists now; `append_to` writes what came after a mark."""
        return LogMark(
            len(self.batches), len(self.filter_cache), len(self.score_cache), len(self.history)
        )

    def _delta(self, since: LogMark) -> dict[str, Any]:
        return {
            "version": 1,
            "batches": [b.model_dump(mode="json") for b in self.batches[since.batches :]],
            "filter_cache": _tail(self.filter_cache, since.filter_cache),
            "score_cache": _tail(self.score_cache, since.score_cache),
            "history": self.history[since.history :],
            "counters": asdict(self.counters),
            "pending": self.pending.model_dump(mode="json") if self.pending else None,
            "strategy": self.strategy_state,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole log to a file atomically (a crash never leaves half a file)."""
        write_atomically(path, json.dumps(self._delta(LogMark())) + "\n")

    def append_to(self, path: str | os.PathLike, since: LogMark) -> LogMark:
        """Append what changed after `since` as one line (a cheap checkpoint); return the new mark.

        A file of such lines loads like a saved log; a line cut short by a crash is ignored.
        """
        with open(path, "a") as handle:
            handle.write(json.dumps(self._delta(since)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return self.mark()

    @classmethod
    def load(cls, path: str | os.PathLike) -> SearchLog:
        """Read a log written by `save` or `append_to`; resume it with `Runner.search(log=...)`."""
        log = cls()
        lines = Path(path).read_text().splitlines()
        for number, line in enumerate(lines):
            try:
                delta = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines) - 1:
                    break  # the last checkpoint was cut short by a crash
                raise
            log._apply(delta)
        return log

    def _apply(self, delta: dict[str, Any]) -> None:
        for key, value in delta["filter_cache"].items():
            self.filter_cache[key] = FilterResponse.model_validate(value)
        for key, value in delta["score_cache"].items():
            self.score_cache[key] = ScoreResponse.model_validate(value)
        for batch in delta["batches"]:
            self.add_batch(Batch.model_validate(batch))
        self.history += delta["history"]
        self.counters = Counters(**delta["counters"])
        pending = delta["pending"]
        self.pending = Batch.model_validate(pending) if pending is not None else None
        self.strategy_state = delta.get("strategy")


_COUNTER_NAMES = tuple(Counters.__dataclass_fields__)


class LogMark(NamedTuple):
    """Sizes of a log's growing parts at one moment."""

    batches: int = 0
    filter_cache: int = 0
    score_cache: int = 0
    history: int = 0


def _tail(cache: dict[str, Any], start: int) -> dict[str, Any]:
    return {k: v.model_dump(mode="json") for k, v in islice(cache.items(), start, None)}


def _beats(item: Item, best: Item | None) -> bool:
    if item.internal.removed or item.score is None:
        return False
    return best is None or best.score is None or item.score > best.score


def _result_row(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "item": item.item,
        "score": item.score,
        "embedding": item.embedding,
        "data": item.data,
        "iteration": item.internal.iteration,
        "query_id": item.internal.query_id,
        "removed": item.internal.removed,
        "removal_reason": item.internal.removal_reason,
    }
