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

import functools
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

import numpy as np

from .calls import as_score
from .codec import decode, encode
from .log import GIVEN_UP, SearchLog, item_key
from .protocols import Searchable
from .runner import Runner, Step, apply_score, guarded
from .schemas import Batch, DataSourceFunction, Item, ItemInternal, QueryInternal, ScoreResponse
from .stopping import StopRule


@dataclass
class Answers:
    """Told answers sorted by what telling them does: `new` answers of waiting items and
    `late` ones of items given up earlier (each by item key), how many were told before with
    the `same` answer (nothing to do) and the `problems`, as (position, what is wrong)."""

    new: dict[str, ScoreResponse] = field(default_factory=dict)
    late: dict[str, ScoreResponse] = field(default_factory=dict)
    same: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)


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
    its score function, if any, is not called). `stop` is a `StopRule`, as for `search`, the
    only thing that ends the search (`iterations` is a shorthand for a cap on the iterations
    of the whole log, folded into it: the lower cap wins); `known` (item, score) pairs scored
    before the search, as for `search`. A new log goes in the runner's `direction`; a log
    given goes on in its own.
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
            stop: when the search stops (None: when `iterations` are done).
            iterations: the most iterations of the whole log (None: the cap of `stop`).
            known: (item, score) pairs scored before the search (score None: invalid).
        """
        runner = source if isinstance(source, Runner) else Runner(source)
        log = log if log is not None else runner.new_log()
        if batch is not None:
            log.pending = batch
        self._set_up(lambda: runner, log, stop, iterations)
        self.runner = self._ready(runner)  # now: a start batch it refuses is refused here
        for item, score in known:
            self.log.add_known(item, score)

    @classmethod
    def resume(
        cls, runner: Callable[[], Runner], log: SearchLog, stop: StopRule, state: str | None
    ) -> AskTell:
        """Continue the search of `log` (with the open iteration `state` saved, if any) that
        `stop` ends. `runner()` makes its runner when an iteration first begins or ends:
        handing out the items of an open iteration, or taking scores that leave it open,
        needs no data source."""
        search = cls.__new__(cls)
        search._set_up(runner, log, stop, None)
        if state is not None:
            search.restore(state)
        return search

    def _set_up(
        self,
        runner: Callable[[], Runner],
        log: SearchLog,
        stop: StopRule | None,
        iterations: int | None,
    ) -> None:
        if log.pending is None:
            raise ValueError("ask/tell needs a batch of start queries (or a log with pending ones)")
        self._make_runner, self.log = runner, log
        self.stop = stop or StopRule()
        if iterations is not None:
            self.stop = self.stop.capped(iterations)
        self.step: Step | None = None
        self.told: dict[str, ScoreResponse] = {}
        self._ids: dict[str, str] = {}  # asked id -> item key

    @functools.cached_property
    def runner(self) -> Runner:
        """The runner (made at the first use)."""
        return self._ready(self._make_runner())

    def _ready(self, runner: Runner) -> Runner:
        """`runner`, readied for the log's pending queries."""
        assert self.log.pending is not None
        runner.start(self.log.pending, self.log)
        return runner

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
        with that reason. An item given up earlier (`proceed`) takes its late answer; an
        answer told before, the same again, changes nothing. Nothing changes when any id is
        unknown or told before with another answer, or any score is not a finite number.
        Returns how many asked items still wait."""
        answers = self.sort(ids, scores, [None] * len(ids) if reasons is None else reasons)
        if answers.problems:
            raise ValueError(f"{answers.problems[0][1]}; nothing was told")
        return self.take(answers)

    def sort(
        self,
        ids: Sequence[str],
        scores: Sequence[float | None],
        reasons: Sequence[str | None],
    ) -> Answers:
        """What telling these answers would do, answer by answer (see `Answers`); changes
        nothing."""
        if not len(ids) == len(scores) == len(reasons):
            raise ValueError(
                f"tell needs one score and one reason per id: got {len(ids)} ids, "
                f"{len(scores)} scores and {len(reasons)} reasons"
            )
        answers = Answers()
        place = self.sorter(answers)
        for position, told in enumerate(zip(ids, scores, reasons)):
            problem = place(*told)
            if problem is not None:
                answers.problems.append((position, problem))
        return answers

    def sorter(self, answers: Answers) -> Callable[[str, float | None, str | None], str | None]:
        """A function that sorts one told answer (id, score, reason) into `answers` as `sort`
        does and returns the problem with it (None: none), for answers read one by one: the
        memory it takes grows with the items asked, not with the answers."""
        keys = self._keys()
        waiting = {key for key, _ in self.step.todo} if self.step is not None else set()

        def place(id: str, score: float | None, reason: str | None) -> str | None:
            key = self._ids.get(str(id)) or keys.get(str(id))
            try:
                response = _response(id, score, reason)
            except ValueError as error:
                return str(error)
            earlier = self._answer_of(key, answers) if key is not None else None
            if key is None:
                return f"id {id!r} is not waiting for a score"
            if earlier is not None:
                if not _same(earlier, response):
                    return _conflict(id, earlier, response)
                answers.same += 1
            elif key in waiting:
                answers.new[key] = response
            elif self.log.given_up(key):
                answers.late[key] = response
            else:
                return f"id {id!r} was not asked for a score"
            return None

        return place

    def _answer_of(self, key: str, answers: Answers) -> ScoreResponse | None:
        """The answer told for the item `key` so far (in `answers` or before), if any."""
        for told in (answers.new, answers.late, self.told):
            if key in told:
                return told[key]
        if self.log.given_up(key):
            return None
        return self.log.score_cache.get(key)

    def take(self, answers: Answers) -> int:
        """Keep the answers `sort` found new or late (its problems are left out); returns how
        many asked items still wait."""
        self.told.update(answers.new)
        for key, response in answers.late.items():
            self.log.add_late(key, response)
        if self.step is None:
            return 0
        waiting = len(self.step.todo) - len(self.told)
        if waiting == 0:
            self.proceed()
        return waiting

    def replicate(self, ids: Sequence[str], scores: Sequence[float]) -> None:
        """Add further scores of items scored valid earlier in the search (replicate wells,
        re-tests; an id may come more than once): each item's score becomes the mean of its
        valid scores; the first score of an item given up earlier is its late score. Nothing
        changes when any id is unknown or has no valid score (yet), or any score is not a
        finite number."""
        if len(ids) != len(scores):
            raise ValueError(
                f"replicate needs one score per id: got {len(ids)} ids and {len(scores)} scores"
            )
        log, keys, late, added = self.log, self._keys(), {}, []
        for id, score in zip(ids, scores):
            key = keys.get(str(id))
            if key is None or not (log.score_count(key) or log.given_up(key)):
                what = "unknown to this search" if key is None else "not scored valid (yet)"
                raise ValueError(f"id {id!r} is {what}; nothing was replicated")
            problem = score_problem(score)
            if problem is not None:
                raise ValueError(
                    f"id {id!r}: the score {problem}, got {score!r}; nothing was replicated"
                )
            if log.given_up(key) and key not in late:
                late[key] = ScoreResponse(valid=True, score=float(score))
            else:
                added.append((key, float(score)))
        for key, response in late.items():
            log.add_late(key, response)
        for key, score in added:
            log.add_replicate(key, score)

    def replicable(self) -> set[str]:
        """The ids `replicate` takes: those of the items scored valid in this search, and of
        those given up (their first score is late)."""
        log = self.log
        return {id for id, key in self._keys().items() if log.score_count(key) or log.given_up(key)}

    def told_items(self) -> list[Item]:
        """The items of the open iteration told so far, with their answers (valid ones
        scored, invalid ones removed with their reason), for results and status before the
        iteration is done."""
        return [] if self.step is None else told_items(self.step, self.told)

    def known_ids(self) -> set[str]:
        """The ids of the items the search has met (scored, candidates, asked)."""
        return set(self._keys())

    def _keys(self) -> dict[str, str]:
        """The keys of the items the search has met (scored, candidates, asked), by id."""
        asked = self.step.todo if self.step is not None else []
        return _keys_by_id(chain(self.log.items.items(), self.log.candidates.items(), asked))

    def proceed(self) -> None:
        """Finish the open iteration with the scores told so far; the others count as invalid
        ("no score was told") and are not asked again."""
        if self.step is None:
            raise ValueError("nothing is waiting for scores; ask first")
        runner, step, told = self.runner, self.step, self.told  # the runner first: it may fail
        missing = ScoreResponse(valid=False, data={"error": GIVEN_UP})
        responses = [told.get(key, missing) for key, _ in step.todo]
        self.step, self.told, self._ids = None, {}, {}
        guarded(runner.finish, self.log, step, self.log, responses)

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
        saved = SavedIteration.read(text)
        if saved.iteration != self.log.counters.iterations:
            raise ValueError(
                f"the open iteration is {saved.iteration}, the log is at "
                f"{self.log.counters.iterations}"
            )
        self.step, self._ids, self.told = saved.step, dict(saved.ids), dict(saved.told)
        self.log.pending = saved.step.batch


@dataclass(frozen=True)
class SavedIteration:
    """An open iteration as `AskTell.state` saved it, read without a source or a strategy
    (what `emb-opt status` shows): the step, the asked ids (id -> item key) and the answers
    told so far (by item key)."""

    iteration: int
    step: Step
    ids: dict[str, str]
    told: dict[str, ScoreResponse]

    @classmethod
    def read(cls, text: str) -> SavedIteration:
        data = decode(json.loads(text), (ItemInternal, QueryInternal))
        batch = Batch.model_validate(data["batch"])
        items = [
            i for q in batch.valid_queries() for i in q.query_results if not i.internal.removed
        ]
        items += [item for item in batch.acquired if not item.internal.removed]
        first: dict[str, Item] = {}
        for item in items:
            first.setdefault(item_key(item), item)
        todo = [(key, first[key]) for key in data["todo"]]
        told = {k: ScoreResponse.model_validate(v) for k, v in data["told"].items()}
        step = Step(batch, items, todo, began=time.perf_counter())
        return cls(data["iteration"], step, data["ids"], told)

    def waiting(self) -> list[str]:
        """The ids of the items not told yet."""
        told = self.told
        return [id for id, key in self.ids.items() if key not in told]

    def told_items(self) -> list[Item]:
        """The items told so far, with their answers (see `AskTell.told_items`)."""
        return told_items(self.step, self.told)


def told_items(step: Step, told: dict[str, ScoreResponse]) -> list[Item]:
    """Copies of the items of `step` told so far, with their answers: valid ones scored,
    invalid ones removed with their reason."""
    items = []
    for key, item in step.todo:
        response = told.get(key)
        if response is not None:
            copy = item.model_copy(update={"internal": replace(item.internal)})
            apply_score(copy, response)
            items.append(copy)
    return items


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
        raise ValueError(f"id {id!r}: the score {problem}, got {score!r}")
    return ScoreResponse(valid=True, score=float(score))


def _same(earlier: ScoreResponse, answer: ScoreResponse) -> bool:
    """Whether `answer` tells what `earlier` told: the same score, or invalid for the same
    reason."""
    if earlier.valid or answer.valid:
        return earlier.valid == answer.valid and earlier.score == answer.score
    return _said(earlier) == _said(answer)


def _said(response: ScoreResponse) -> str:
    """A told answer as a message shows it: its score, or "invalid (reason)"."""
    if response.valid:
        return repr(response.score)
    return f"invalid ({(response.data or {}).get('error', 'no score')})"


def _conflict(id: str, earlier: ScoreResponse, answer: ScoreResponse) -> str:
    """What to say of an answer that differs from the one told before."""
    hint = "; a further measurement is a replicate (tell --replicate)" if answer.valid else ""
    return f"id {id!r} was told {_said(earlier)} before, now {_said(answer)}{hint}"
