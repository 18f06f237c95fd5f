"""Ask/tell: a search whose scores come from outside the process (an assay, a queue, people).

`AskTell` runs the iterations `Runner.search` runs, split where the score function would be
called: `ask()` hands out the items the iteration chose to score, `tell(ids, scores)` takes
scores for any of them in any order, and once every asked item has an answer (or on
`proceed()`) the strategy proposes the next queries. Same strategies, filters, budget, stop
rules and log; the answers are kept in the order the items were asked, so a search told the
same scores ends as the callable search does. `replicate(ids, scores)` adds further scores
of items scored earlier (replicate measurements, re-tests), which are averaged.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

import numpy as np

from .calls import as_score
from .codec import decode, encode
from .log import SearchLog, item_key
from .protocols import Searchable
from .runner import Runner, Step, guarded
from .schemas import Batch, DataSourceFunction, Item, ItemInternal, QueryInternal, ScoreResponse
from .stopping import StopRule

NOT_TOLD = "no score was told"


@dataclass(frozen=True)
class Asked:
    """An item waiting for its score; `id` is what `tell` takes."""

    id: str
    item: Any
    metadata: dict | None
    embedding: np.ndarray


class AskTell:
    """A search that asks for scores instead of calling a score function.

    `source` is a data source (searched with the guided strategy, `GuidedUpdate()`) or a
    `Runner` with the filter, strategy and so on to use (`Runner(source, update_function=...)`:
    its score function, if any, is not called). `stop` is a `StopRule`, as for `search`
    (`iterations`, if given, replaces its cap on the iterations of the whole log);
    `known` (item, score) pairs scored before the search, as for `search`. The search goes
    in the runner's `direction`.
    """

    def __init__(
        self,
        source: Runner | Searchable | DataSourceFunction,
        batch: Batch | None = None,
        log: SearchLog | None = None,
        *,
        stop: StopRule | None = None,
        iterations: int | None = None,
        known: Sequence[tuple[Item, float | None]] = (),
    ) -> None:
        """Start (or, given a `log`, continue) a search whose scores are told.

        Args:
            source: a data source (searched with `GuidedUpdate()`) or a `Runner`.
            batch: the start queries (None: those `log` left pending).
            log: a log to continue (None: a new one).
            stop: when to stop early (None: only `iterations` ends the search).
            iterations: the most iterations of the whole log (None: no cap).
            known: (item, score) pairs scored before the search (score None: invalid).
        """
        runner = source if isinstance(source, Runner) else Runner(source)
        self.runner = runner
        self.log = log if log is not None else SearchLog()
        batch = batch if batch is not None else self.log.pending
        if batch is None:
            raise ValueError("ask/tell needs a batch of start queries (or a log with pending ones)")
        runner.start(batch, self.log)
        for item, score in known:
            self.log.add_known(item, score)
        self.log.pending = batch
        self.stop = stop or StopRule()
        if iterations is not None:
            self.stop = replace(self.stop, iterations=iterations)
        self.step: Step | None = None
        self.told: dict[str, ScoreResponse] = {}
        self._ids: dict[str, str] = {}  # asked id -> item key

    @property
    def stopped(self) -> str | None:
        """Why the search is over (None while it goes on)."""
        return None if self.step is not None else self.stop.reason(self.log)

    def ask(self) -> list[Asked]:
        """The items waiting for a score: those of the open iteration not told yet, else the
        ones the next iteration chooses (iterations that choose none run on their own); []
        once the search has stopped."""
        while self.step is None and self.stopped is None:
            assert self.log.pending is not None
            log = self.log
            step = guarded(self.runner.begin, log, log.pending, log, self.stop.score_budget(log))
            if step.todo:
                self._open(step)
            else:
                guarded(self.runner.finish, log, step, log, [])
        return self.waiting()

    def waiting(self) -> list[Asked]:
        """The items of the open iteration not told yet ([] when none is open)."""
        if self.step is None:
            return []
        by_key = {key: id for id, key in self._ids.items()}
        return [
            Asked(by_key[key], item.item, item.data, item.embedding)
            for key, item in self.step.todo
            if key not in self.told
        ]

    def tell(
        self,
        ids: Sequence[str],
        scores: Sequence[float | None],
        reasons: Sequence[str | None] | None = None,
    ) -> int:
        """Take the scores of asked items; an item with a reason (or no score) is invalid,
        with that reason. Nothing changes when any id is unknown, told already or given twice,
        or any score is not a finite number. Returns how many asked items still wait."""
        if self.step is None:
            raise ValueError("nothing is waiting for scores; ask first")
        reasons = reasons if reasons is not None else [None] * len(ids)
        if not len(ids) == len(scores) == len(reasons):
            raise ValueError(
                f"tell needs one score and one reason per id: got {len(ids)} ids, "
                f"{len(scores)} scores and {len(reasons)} reasons"
            )
        answers = {}
        for id, score, reason in zip(ids, scores, reasons):
            key = self._ids.get(str(id))
            if key is None or key in self.told or key in answers:
                what = "told already" if key in self.told else "given twice"
                what = "unknown" if key is None else what
                raise ValueError(f"id {id!r} is {what}; nothing was told")
            answers[key] = _response(id, score, reason)
        self.told.update(answers)
        waiting = len(self.step.todo) - len(self.told)
        if waiting == 0:
            self.proceed()
        return waiting

    def replicate(self, ids: Sequence[str], scores: Sequence[float]) -> None:
        """Add further scores of items scored valid earlier in the search (replicate wells,
        re-tests; an id may come more than once): each item's score becomes the mean of its
        valid scores. Nothing changes when any id is unknown or has no valid score (yet), or
        any score is not a finite number."""
        if len(ids) != len(scores):
            raise ValueError(
                f"replicate needs one score per id: got {len(ids)} ids and {len(scores)} scores"
            )
        log, keys, added = self.log, self._keys(), []
        for id, score in zip(ids, scores):
            key = keys.get(str(id))
            if key is None or log.score_count(key) == 0:
                what = "unknown to this search" if key is None else "not scored valid (yet)"
                raise ValueError(f"id {id!r} is {what}; nothing was replicated")
            problem = score_problem(score)
            if problem is not None:
                raise ValueError(
                    f"id {id!r}: the score {problem}, got {score!r}; nothing was replicated"
                )
            added.append((key, float(score)))
        for key, score in added:
            log.add_replicate(key, score)

    def replicable(self) -> set[str]:
        """The ids `replicate` takes: those of the items scored valid in this search."""
        return {id for id, key in self._keys().items() if self.log.score_count(key)}

    def _keys(self) -> dict[str, str]:
        """The keys of the items the search has met (scored, candidates, asked), by id."""
        asked = self.step.todo if self.step is not None else []
        return _keys_by_id(chain(self.log.items.items(), self.log.candidates.items(), asked))

    def proceed(self) -> None:
        """Finish the open iteration with the scores told so far; the others count as invalid
        ("no score was told") and are not asked again."""
        if self.step is None:
            raise ValueError("nothing is waiting for scores; ask first")
        step, told = self.step, self.told
        missing = ScoreResponse(valid=False, data={"error": NOT_TOLD})
        responses = [told.get(key, missing) for key, _ in step.todo]
        self.step, self.told, self._ids = None, {}, {}
        guarded(self.runner.finish, self.log, step, self.log, responses)

    def _open(self, step: Step) -> None:
        self.step, self.told = step, {}
        self._ids = _keys_by_id(step.todo)

    def state(self) -> str | None:
        """The open iteration and the scores told so far, as JSON text (None: none is open);
        `restore` takes it in a later process, with the log saved at the same moment."""
        if self.step is None:
            return None
        step = self.step
        return json.dumps(
            encode(
                {
                    "batch": step.batch.model_dump(),
                    "todo": [key for key, _ in step.todo],
                    "ids": self._ids,
                    "told": {key: r.model_dump() for key, r in self.told.items()},
                    "iteration": self.log.counters.iterations,
                }
            )
        )

    def restore(self, text: str) -> None:
        """Reopen the iteration `state` saved."""
        data = decode(json.loads(text), (ItemInternal, QueryInternal))
        if data["iteration"] != self.log.counters.iterations:
            raise ValueError(
                f"the open iteration is {data['iteration']}, the log is at "
                f"{self.log.counters.iterations}"
            )
        batch = Batch.model_validate(data["batch"])
        items = [
            i for q in batch.valid_queries() for i in q.query_results if not i.internal.removed
        ]
        items += [item for item in batch.acquired if not item.internal.removed]
        first: dict[str, Item] = {}
        for item in items:
            first.setdefault(item_key(item), item)
        todo = [(key, first[key]) for key in data["todo"]]
        self.step = Step(batch, items, todo, began=time.perf_counter())
        self._ids = dict(data["ids"])
        self.told = {k: ScoreResponse.model_validate(v) for k, v in data["told"].items()}
        self.log.pending = batch


def _keys_by_id(items: Iterable[tuple[str, Item]]) -> dict[str, str]:
    """Item keys by the id `ask` hands out: the item's id as text, or its key when it has
    none or an earlier item has that text."""
    keys: dict[str, str] = {}
    for key, item in items:
        id = key if item.id is None else str(item.id)
        keys[key if id in keys else id] = key
    return keys


def score_problem(score: Any) -> str | None:
    """What is wrong with a told score (None: it is a finite number)."""
    number = as_score(score)
    if number is None:
        return "must be a number"
    return None if math.isfinite(number) else "must be finite"


def _response(id: str, score: Any, reason: str | None) -> ScoreResponse:
    """The answer for one told item; a ValueError naming it when the score is no number."""
    if reason is not None or score is None:
        return ScoreResponse(valid=False, data={"error": reason or "no score"})
    problem = score_problem(score)
    if problem is not None:
        raise ValueError(f"id {id!r}: the score {problem}, got {score!r}; nothing was told")
    return ScoreResponse(valid=True, score=float(score))
