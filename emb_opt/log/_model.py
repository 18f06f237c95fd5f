"""The search log: the unique items, the query tree, the caches and the counters of a search.

Each unique item is held once; a query keeps only references to the items it retrieved (and
why, where one was not a valid result for it). So the log grows with what a search learned,
not with how often it looked. This module is the bottom of `emb_opt.log`: it imports none of
the others (`_writer` writes a log to disk the same way, `_reader` reads it back).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..direction import MAXIMIZE, Direction
from ..schemas import Batch, FilterResponse, Item, Query, ScoreResponse

UNSCORED = "score budget exhausted"  # why an item retrieved after the budget ran out is invalid
NOT_CHOSEN = "not chosen for scoring"  # retrieved, kept as a candidate, not scored (yet)
GIVEN_UP = "no score was told"  # asked, given up without a score (ask/tell); a late score may come
CACHES = ("filter", "score")
KNOWN_ITERATION = -1  # the iteration of an item scored before the search
KNOWN = "known"  # the source of items whose scores the user had before the search
SEARCHED = "search"  # the source of items the search scored


def item_key(item: Item) -> str:
    """The identity of an item within a search: its id, or its embedding when it has none."""
    if item.id is not None:
        return repr(item.id)
    return "emb:" + hashlib.sha1(item.embedding.tobytes()).hexdigest()


class QueryNode:
    """One query in the tree: the query (without its results), its parent and children,
    references to the items it retrieved, and the scores of its valid results."""

    __slots__ = ("_log", "_query", "children", "hit_reasons", "hits", "parent")

    def __init__(
        self, query: Query, log: SearchLog, hits: np.ndarray, hit_reasons: np.ndarray | None
    ) -> None:
        self._query = query
        self._log = log
        self.parent: QueryNode | None = None
        self.children: list[QueryNode] = []
        self.hits = hits  # item numbers (see SearchLog.item_at) of the results, in rank order
        self.hit_reasons = hit_reasons  # reason codes (SearchLog.reasons), -1 where valid

    def scores(self) -> list[float]:
        """The scores of the query's valid results as the log holds them now (an item
        scored more than once: its mean)."""
        valid = self.hits if self.hit_reasons is None else self.hits[self.hit_reasons < 0]
        found = (self._log.item_at(n).score for n in valid.tolist())
        return [score for score in found if score is not None]

    @property
    def score_sum(self) -> float:
        return sum(self.scores())

    @property
    def score_count(self) -> int:
        return len(self.scores())

    @property
    def max_score(self) -> float | None:
        return max(self.scores(), default=None)

    @property
    def mean_score(self) -> float | None:
        """Mean score of the query's valid results."""
        scores = self.scores()
        return sum(scores) / len(scores) if scores else None

    @property
    def id(self) -> str | None:
        return self._query.internal.id

    @property
    def iteration(self) -> int | None:
        return self._query.internal.iteration

    @property
    def removed(self) -> bool:
        return self._query.internal.removed

    @property
    def trajectory(self) -> int | None:
        """The number of the trajectory the query belongs to."""
        return self._query.internal.collection_id

    @property
    def embedding(self) -> np.ndarray:
        return self._query.embedding

    @property
    def bare_query(self) -> Query:
        """The query without its results (do not change it)."""
        return self._query

    @property
    def query(self) -> Query:
        """The query with its results, rebuilt from the log's items."""
        return self._query.model_copy(update={"query_results": self.results()})

    def results(self) -> list[Item]:
        """The items the query retrieved, each as it was for this query (valid or why not)."""
        results = []
        for position, number in enumerate(self.hits.tolist()):
            known = self._log.item_at(number)
            item = Item.trusted(known.id, known.item, known.embedding, known.data, None)
            item.internal.query_id = self.id
            item.internal.iteration = self.iteration
            code = -1 if self.hit_reasons is None else int(self.hit_reasons[position])
            if code < 0:
                item.score = known.score
            else:
                item.remove(self._log.reasons[code])
            results.append(item)
        return results

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
    """Queries linked parent -> children across iterations, in the order they were added."""

    def __init__(self) -> None:
        self.nodes: dict[str, QueryNode] = {}

    def add(self, node: QueryNode, parent_id: str | None) -> None:
        parent = self.nodes.get(parent_id or "")
        node.parent = parent
        if parent is not None:
            parent.children.append(node)
        self.nodes[node.id or f"#{len(self.nodes)}"] = node

    def leaf_nodes(self, include_removed: bool = False) -> list[QueryNode]:
        """Queries with no children (the ends of trajectories)."""
        return [
            node
            for node in self.nodes.values()
            if not node.children and (include_removed or not node.removed)
        ]

    def edges(self) -> list[tuple[QueryNode, QueryNode]]:
        """(from, to) pairs that draw every trajectory of mean scores in one pass: each node
        with a mean score is joined to its nearest ancestor with one."""
        anchor: dict[int, QueryNode | None] = {}
        pairs = []
        for node in self.nodes.values():  # parents come before their children
            above = anchor.get(id(node.parent)) if node.parent is not None else None
            if node.mean_score is not None:
                if above is not None:
                    pairs.append((above, node))
                above = node
            anchor[id(node)] = above
        return pairs

    def __len__(self) -> int:
        return len(self.nodes)


@dataclass
class BatchRecord:
    """One iteration as the log keeps it: its query nodes and the items it acquired."""

    nodes: list[QueryNode]
    acquired_numbers: list[int]
    log: SearchLog = field(repr=False)

    @property
    def queries(self) -> list[Query]:
        return [node.query for node in self.nodes]

    @property
    def acquired(self) -> list[Item]:
        return [self.log.item_at(number) for number in self.acquired_numbers]

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
    non_finite_scores: int = 0  # scores that were NaN or infinite (their items are invalid)
    known_scores: int = 0  # items scored before the search (`SearchLog.add_known`)


@dataclass
class SearchLog:
    """Everything a search did, enough to inspect it later or resume it.

    `direction` says whether higher or lower scores are better (scores stay in the user's
    units; `best`, `compile_results` and the stop rule follow it).

    `items` are the unique items scored (or rejected by the filter), `candidates` those
    retrieved and not scored (not chosen, or past the budget), both by item key. An item
    scored valid more than once (replicates: `add_replicate`) has the mean of its valid
    scores as its score, everywhere; `replicates` holds all of them, by key. `journal` lists
    what the log gained, in order: ("candidate" | "item" | "scored", key) when an item became
    a candidate, an invalid item or a valid scored one; ("replicate", key) when a valid one
    gained a further score; ("filter" | "score", key) when a cache gained an answer. Writers
    and the strategies' memory follow it, never rescanning.
    """

    pending: Batch | None = None
    batches: list[BatchRecord] = field(default_factory=list)
    items: dict[str, Item] = field(default_factory=dict)
    candidates: dict[str, Item] = field(default_factory=dict, repr=False)
    filter_cache: dict[str, FilterResponse] = field(default_factory=dict, repr=False)
    score_cache: dict[str, ScoreResponse] = field(default_factory=dict, repr=False)
    counters: Counters = field(default_factory=Counters)
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    strategy_state: dict[str, Any] | None = field(default=None, repr=False)
    best_item: Item | None = field(default=None, repr=False)
    query_tree: QueryTree = field(default_factory=QueryTree, repr=False)
    journal: list[tuple[str, str]] = field(default_factory=list, repr=False)
    reasons: list[str] = field(default_factory=list, repr=False)
    keys: list[str] = field(default_factory=list, repr=False)  # item number -> item key
    replicates: dict[str, list[float]] = field(default_factory=dict, repr=False)
    direction: Direction = MAXIMIZE
    _numbers: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _reason_codes: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def cache(self, kind: str) -> dict[str, Any]:
        """The answers of the `kind` function ("filter" or "score") by item key (read them;
        `remember` adds to them)."""
        if kind not in CACHES:
            raise ValueError(f"cache kind must be one of {', '.join(CACHES)}, got {kind!r}")
        return self.filter_cache if kind == "filter" else self.score_cache

    def remember(self, kind: str, key: str, response: FilterResponse | ScoreResponse) -> None:
        """Keep the `kind` function's answer for the item `key`."""
        self.cache(kind)[key] = response
        self.journal.append((kind, key))

    def count(self, counter: str, n: int = 1) -> None:
        """Add `n` to the counter named `counter` (a field of `Counters`)."""
        if counter not in _COUNTER_NAMES:
            raise ValueError(f"unknown counter {counter!r}; expected one of {_COUNTER_NAMES}")
        setattr(self.counters, counter, getattr(self.counters, counter) + n)

    def item_at(self, number: int) -> Item:
        """The item with this number (numbers count items in the order the log met them)."""
        key = self.keys[number]
        found = self.items.get(key)
        return found if found is not None else self.candidates[key]

    def add_batch(self, batch: Batch) -> None:
        """Record a finished iteration: its queries, references to their results, the items."""
        self.counters.iterations += 1
        nodes = []
        for query in batch.queries:
            results = query.query_results
            numbers = [self.number(self.add_item(item)) for item in results]
            codes = [self.reason_code(i.internal.removal_reason) if i.internal.removed else -1
                     for i in results]  # fmt: skip
            nodes.append(self.add_query(query, numbers, codes))
        acquired = [self.number(self.add_item(item)) for item in batch.acquired]
        self.add_record(nodes, acquired)

    def add_record(self, nodes: list[QueryNode], acquired: list[int]) -> None:
        """Keep an iteration's query nodes and the numbers of the items it acquired."""
        self.batches.append(BatchRecord(nodes, acquired, self))

    def set_counters(self, values: dict[str, int]) -> None:
        """Take the counters a saved log holds (those it lacks start at 0)."""
        self.counters = Counters(**values)

    def add_query(self, query: Query, numbers: list[int], codes: list[int]) -> QueryNode:
        """Put a query into the query tree; its results are the items `numbers`, valid where
        their reason code in `codes` is -1."""
        stripped = query.model_copy(
            update={"query_results": [], "embedding": _owned(query.embedding)}
        )
        reasons = np.array(codes, dtype=np.int32) if any(c >= 0 for c in codes) else None
        node = QueryNode(stripped, self, np.array(numbers, dtype=np.int32), reasons)
        self.query_tree.add(node, query.internal.parent_id)
        return node

    def reason_code(self, reason: str | None) -> int:
        """The number of a removal reason in `reasons` (added when new)."""
        text = reason or "removed"
        code = self._reason_codes.get(text)
        if code is None:
            code = self._reason_codes[text] = len(self.reasons)
            self.reasons.append(text)
        return code

    def add_item(self, item: Item, key: str | None = None) -> str:
        """Keep a retrieved item (once per key); return its key.

        An unscored one (not chosen, or past the budget) is a candidate until it is scored; a
        valid one replaces an invalid one of the same key, and any told answer a given-up one.
        """
        key = key or item_key(item)
        if item.internal.removal_reason in (NOT_CHOSEN, UNSCORED):
            if key not in self.items and key not in self.candidates:
                self._keep("candidate", key, item)
            return key
        self.candidates.pop(key, None)
        known = self.items.get(key)
        if known is None or (known.internal.removed and _replaces(item, known)):
            self._keep("scored" if _valid(item) else "item", key, item)
            if self._beats(item):
                self.best_item = item
        return key

    def add_replicate(self, key: str, score: float) -> None:
        """Keep a further valid score of the valid item `key`: its score becomes the mean of
        its valid scores (in the results, `best()`, the score cache and the strategies' memory)."""
        item = self.items.get(key)
        if item is None or item.internal.removed or item.score is None:
            raise ValueError(f"item {key} has no valid score to add a replicate to")
        if not math.isfinite(score):
            raise ValueError(f"item {key}: a replicate score must be finite, got {score!r}")
        scores = self.replicates.setdefault(key, [item.score])
        scores.append(float(score))
        item.score = math.fsum(scores) / len(scores)
        cached = self.score_cache.get(key)
        if cached is not None:  # an item retrieved again gets the mean, too
            self.score_cache[key] = cached.model_copy(update={"score": item.score})
        self.journal.append(("replicate", key))
        best = self.best_item
        if best is item or best is None or not self._beats(best, item):
            self.best_item = self._first_best()  # the first of the best, as if added in order

    def add_late(self, key: str, response: ScoreResponse) -> None:
        """Keep the answer told late for the item `key`, given up earlier (`given_up`): it
        replaces the give-up everywhere and spends one score call."""
        if not self.given_up(key):
            raise ValueError(f"item {key} was not given up; a late score cannot replace its answer")
        asked = self.items[key]
        item = Item.trusted(asked.id, asked.item, asked.embedding, asked.data, None)
        item.internal = replace(asked.internal, removed=False, removal_reason=None)
        if response.valid and response.score is not None:
            item.score = response.score
        else:
            item.remove((response.data or {}).get("error", "invalid score"))
        self.remember("score", key, response)
        self.count("score_calls")
        self.add_item(item, key)

    def given_up(self, key: str) -> bool:
        """Whether the item `key` was asked and given up without a score (ask/tell)."""
        item = self.items.get(key)
        return item is not None and item.internal.removal_reason == GIVEN_UP

    def given_up_count(self) -> int:
        """How many asked items were given up without a score (and have no late one yet)."""
        return sum(item.internal.removal_reason == GIVEN_UP for item in self.items.values())

    def score_count(self, key: str) -> int:
        """How many valid scores the item `key` has (0: none)."""
        item = self.items.get(key)
        if item is None or not _valid(item):
            return 0
        return len(self.replicates[key]) if key in self.replicates else 1

    def _keep(self, kind: str, key: str, item: Item) -> None:
        item.embedding = _owned(item.embedding)
        (self.candidates if kind == "candidate" else self.items)[key] = item
        self.number(key)
        self.journal.append((kind, key))

    def number(self, key: str) -> int:
        """The number of the item `key` (items are numbered in the order the log meets them)."""
        number = self._numbers.get(key)
        if number is None:
            number = self._numbers[key] = len(self.keys)
            self.keys.append(key)
        return number

    def record_iteration(self, seconds: float) -> None:
        """Append the figures of the iteration just finished to `history`."""
        nodes = self.batches[-1].nodes if self.batches else []
        scores = [score for node in nodes for score in node.scores()]
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
        """Items scored (or rejected by the filter) during the search, and those known before it."""
        return len(self.items)

    def _beats(self, item: Item, than: Item | None = None) -> bool:
        """Whether `item` is valid and strictly better than `than` (None: the best item)."""
        best = self.best_item if than is None else than
        if item.internal.removed or item.score is None:
            return False
        return best is None or best.score is None or self.direction.better(item.score, best.score)

    def _first_best(self) -> Item | None:
        """The first valid item (in the order the log met them) of the best score."""
        valid = (item for item in self.items.values() if _valid(item))
        return min(valid, key=lambda item: self.direction.sort_key(item.score), default=None)

    def best(self) -> Item | None:
        """The best-scoring valid item so far (the highest, or the lowest when minimizing)."""
        return self.best_item

    def compile_results(self, skip_removed: bool = True) -> list[dict[str, Any]]:
        """Unique items as dicts, best first (lowest first when minimizing)."""
        rows = [
            _result_row(item, self.score_count(key))
            for key, item in self.items.items()
            if not (skip_removed and item.internal.removed)
        ]
        rows.sort(key=lambda row: self.direction.sort_key(row["score"]))
        return rows

    def failures(self) -> list[Item]:
        """The items scored invalid (a failed call or well, with its reason; not those given
        up or rejected by the filter), in the order the log met them."""
        cache = self.score_cache
        return [
            item
            for key, item in self.items.items()
            if item.internal.removed
            and key in cache
            and not cache[key].valid
            and item.internal.removal_reason != GIVEN_UP
        ]

    def add_known(self, item: Item, score: float | None, reason: str | None = None) -> None:
        """Keep an item scored before the search (`score` None: invalid, for `reason`): it
        counts as scored, is never scored again, spends no score calls, and its results row
        says `source: "known"` (iteration -1).

        A valid score of an item scored valid already is a replicate (`add_replicate`); an
        invalid one is dropped (the item keeps the mean of its valid scores)."""
        key = item_key(item)
        score = score if reason is None else None
        scored = self.items.get(key)
        if scored is not None and _valid(scored):
            if score is not None:
                self.add_replicate(key, score)
            return
        new = key not in self.score_cache
        if score is None and not new:
            return  # invalid already
        why = None if score is not None else {"error": reason or "no score"}
        response = ScoreResponse(valid=score is not None, score=score, data=why)
        known = Item.trusted(item.id, item.item, item.embedding, item.data, None)
        known.internal.iteration = KNOWN_ITERATION
        if score is not None:
            known.score = score
        else:
            known.remove(reason or "no score")
        self.remember("score", key, response)
        self.add_item(known, key)
        if new:
            self.count("known_scores")


_COUNTER_NAMES = tuple(Counters.__dataclass_fields__)


def _owned(vector: np.ndarray) -> np.ndarray:
    """`vector` itself, or a copy when it is a view that would keep a larger array alive."""
    return vector if vector.base is None else vector.copy()


def _replaces(item: Item, known: Item) -> bool:
    """Whether `item` replaces the invalid `known` of the same key: a valid one always, an
    invalid one a give-up (a failure told late)."""
    return not item.internal.removed or known.internal.removal_reason == GIVEN_UP


def _valid(item: Item) -> bool:
    """Whether `item` has a valid score."""
    return not item.internal.removed and item.score is not None


def _result_row(item: Item, n_scores: int) -> dict[str, Any]:
    return {
        "id": item.id,
        "item": item.item,
        "score": item.score,
        "n_scores": n_scores,
        "embedding": item.embedding,
        "data": item.data,
        "iteration": item.internal.iteration,
        "query_id": item.internal.query_id,
        "removed": item.internal.removed,
        "removal_reason": item.internal.removal_reason,
        "source": KNOWN if item.internal.iteration == KNOWN_ITERATION else SEARCHED,
    }
