"""GuidedUpdate: model-guided screening. Retrieve many candidates, score the few a model rates.

Each round fits a `RandomFeatureEnsemble` to every item scored so far and spends the round's
`batch` of score calls on the candidates its acquisition function rates highest, never two
near-duplicates. Where the candidates come from is the mode:

- `pool`: every item of the collection, streamed with the data source's `scan` and rated
  (MolPAL-style active learning), for collections that can be rated in the time a round may
  take;
- `neighbourhood`: items the queries retrieved (kept as candidates until chosen) and a fresh
  random `sample` of the collection each round, the queries sitting on the best scored items
  and on the best-rated unscored items, so nothing is scanned and a round costs the same for
  10^4 or 10^9 items.

`mode="auto"` picks pool when the source can scan and a pool round fits `round_seconds`, else
neighbourhood. It decides once, on the first guided round: it times the scan and rating of the
first scan batches and extrapolates to every item, to a model of `features` landmarks and to
the rater's workers (`round_cost`); the decision and the estimate are kept in the strategy's
state, so a resumed run keeps its mode, and logged at INFO (`emb_opt.update.round_cost`).
A pool round rates the collection in parts, in this process or on Ray (`rating`,
`emb_opt.update.pool`).
The first `initial` score calls go to a random sample (pool) or to random retrieved items.

The model reads the embedding and, by default (`fields="auto"`), the stored fields that help
it: the source reports what it stores beside the vectors (`Describable`), and
`field_choice` picks among its numbers by held-out top-k precision on the scored items, again
whenever they grew by a quarter. A pool round then scans only those fields, as columns, and
fetches the items it picks whole.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Literal

import numpy as np

from ..checks import check_count, check_number, check_positive_int
from ..log import item_key
from ..protocols import Describable, Fetchable, Sampleable, Scannable
from ..schemas import Item, Query, UpdateResponse
from . import acquisition as acq
from . import field_choice, model_choice, round_cost
from .base import Strategy
from .inputs import ModelInputs, field_matrix
from .pool import Rater, RatingJob, ScoredIds, make_rater
from .regressors import RandomFeatureEnsemble

Mode = Literal["auto", "pool", "neighbourhood"]
ModelChoice = Literal["auto", "fixed"]
Fields = Sequence[str] | Literal["auto"] | None
MIN_FIT = 8  # fewer scored items than this: keep exploring
RECHOOSE = 1.25  # "auto" model and fields: choose again once the scored items grew so

logger = logging.getLogger(__name__)


class GuidedUpdate(Strategy):
    """Model-guided screening: a strategy that also chooses which retrieved items to score."""

    STATE = (
        "rng",
        "mode_used",
        "pool_estimate",
        "anchors",
        "promising",
        "choice",
        "candidates",
        "fields_read",
    )
    STATE_TYPES = (round_cost.RoundCost, model_choice.Choice, field_choice.FieldChoice)

    def __init__(
        self,
        batch: int = 50,
        queries: int = 100,
        initial: int = 100,
        mode: Mode = "auto",
        acquisition: acq.Acquisition = "greedy",
        beta: float = 1.0,
        diversity: float = 0.1,
        features: int = 512,
        heads: int = 8,
        model: ModelChoice = "fixed",
        fields: Fields = "auto",
        round_seconds: float = 60.0,
        shortlist: int = 10,
        sample: int = 2000,
        rating: Rater | dict | None = None,
        seed: int | None = None,
    ) -> None:
        """A model-guided strategy; the defaults suit most collections.

        Args:
            batch: score calls per round (fewer when the budget has fewer left).
            queries: query points per round, at the best scored and best-rated items.
            initial: score calls spent on random items before the model is fitted.
            mode: where candidates come from: "pool", "neighbourhood" or "auto" (module doc).
            acquisition: how candidates are rated: "greedy", "ucb" or "thompson".
            beta: weight of the uncertainty under "ucb".
            diversity: no two items of a batch closer than this x the typical gap between
                neighbours.
            features: random features of the model.
            heads: bootstrap heads of the model (their spread is the uncertainty).
            model: "fixed" (the default) fits kernel width 2 and alpha 0.01; "auto" chooses
                width and alpha by held-out top-k precision on the scored items
                (`model_choice`), again whenever they grew by a quarter.
            fields: stored fields the model reads beside the embedding (numbers, or a vector
                kept in one field as a list of numbers; `emb_opt.update.inputs`): "auto"
                (the default; None too) chooses among what the source stores (module doc),
                a list is read as given, [] reads none.
            round_seconds: the most time a pool round may take: "auto" picks pool when its
                estimate of a round (scan and rating of every item) fits.
            shortlist: candidates kept per score call of the batch when scanning a pool.
            sample: random items added to the candidates each round ("neighbourhood").
            rating: where a pool round rates the collection: a `Rater`, or a block
                `{executor: ray, address: ..., workers: ..., partitions: ...}` (None: in this
                process; see `emb_opt.update.pool`).
            seed: the RNG seed (None: the runner's `seed`).
        """
        for name, value in (("batch", batch), ("queries", queries), ("initial", initial)):
            check_positive_int(name, value)
        for name, value in (("features", features), ("heads", heads), ("shortlist", shortlist)):
            check_positive_int(name, value)
        if fields is None:
            fields = "auto"
        if fields != "auto" and (
            isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields)
        ):
            raise ValueError(f"fields must be 'auto' or a list of field names, got {fields!r}")
        if model not in ("auto", "fixed"):
            raise ValueError(f"model must be 'auto' or 'fixed', got {model!r}")
        if mode not in ("auto", "pool", "neighbourhood"):
            raise ValueError(f"mode must be 'auto', 'pool' or 'neighbourhood', got {mode!r}")
        if acquisition not in acq.ACQUISITIONS:
            raise ValueError(
                f"acquisition must be one of {', '.join(acq.ACQUISITIONS)}, got {acquisition!r}"
            )
        self.batch, self.queries, self.initial = batch, queries, initial
        self.mode, self.acquisition = mode, acquisition
        self.beta = check_number("beta", beta)
        self.diversity = check_number("diversity", diversity)
        self.features, self.heads, self.model = features, heads, model
        self.fields: tuple[str, ...] | Literal["auto"] = (
            "auto" if fields == "auto" else tuple(fields)
        )
        self.round_seconds = check_number("round_seconds", round_seconds)
        self.shortlist = shortlist
        self.sample = check_count("sample", sample)
        self.rating = make_rater(rating)
        self.seed = seed

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.context.seed if self.seed is None else self.seed)
        self.mode_used: str | None = None
        self.pool_estimate: round_cost.RoundCost | None = None  # the estimate "auto" went by
        self.anchors: set[str] = set()  # items already used as query points
        self.promising: dict[str, np.ndarray] = {}  # best-rated unscored items of the last round
        self.choice: model_choice.Choice | None = None  # the "auto" model's last choice
        self.candidates: tuple[str, ...] | None = None  # stored fields "auto" may read
        self.fields_read: field_choice.FieldChoice | None = None  # its last choice

    # acquisition step: which items to score ------------------------------------------------

    def acquire(self, fresh: list[Item], budget: int | None) -> list[Item]:
        """The round's batch, always a full one: random items until `initial` items were
        scored (failures count, so a failed well is topped up by the model, not by a round of
        one), then the best-rated diverse candidates."""
        n = self.batch if budget is None else min(self.batch, budget)
        if n <= 0:
            return []
        random = min(n, max(self.initial - len(self.context.scored), 0))
        if random == n or len(self.context.memory) < MIN_FIT:  # no model to fit yet
            return self._explore(fresh, n)
        chosen = self._guided(fresh, n - random)
        keys = {item_key(item) for item in chosen}
        return chosen + self._explore(fresh, random, exclude=keys)

    def _guided(self, fresh: list[Item], n: int) -> list[Item]:
        """The `n` best-rated diverse candidates, by a model fitted to the scored items."""
        memory = self.context.memory
        fields = self._fields()
        rows = self.context.data(memory.keys()) if fields else None
        inputs = ModelInputs.fit(fields, memory.embeddings, rows, lenient=self.fields == "auto")
        x = inputs(memory.embeddings, rows)
        choice = self._choice(x)
        model = RandomFeatureEnsemble.fit(
            x,
            memory.scores,
            self.rng,
            width=choice.width,
            alpha=choice.alpha,
            features=self.features,
            heads=self.heads,
        )
        size = self.shortlist * n
        if self._mode(model, inputs) == "pool":
            items, predictions = self._pool_shortlist(model, inputs, size)
        else:
            unique = {item_key(i): i for i in self._unscored(fresh) + self._sampled(self.sample)}
            items = list(unique.values())
            predictions = (
                model.predict(inputs(np.stack([i.embedding for i in items]), _rows(items)))
                if items
                else None
            )
        if predictions is None:
            return []
        embeddings = np.stack([item.embedding for item in items])
        picks = acq.choose(
            predictions, embeddings, n, self.acquisition, self.beta, self._radius(), self.rng
        )
        chosen = {item_key(items[i]) for i in picks}
        ranked = acq.shortlist(predictions.mean(axis=1), len(items))
        self.promising = {
            key: np.asarray(items[i].embedding, dtype=np.float64)
            for i in ranked[: self.queries + len(picks)].tolist()
            if (key := item_key(items[i])) not in chosen and key not in self.anchors
        }
        picked = [items[i] for i in picks]
        if self._projects() and self.mode_used == "pool" and picked:
            picked = self.context.fetch([item.id for item in picked])  # the scan read no fields
        return picked

    def _fields(self) -> tuple[str, ...]:
        """The stored fields the model reads: as given, or ("auto") chosen among the
        candidates the source reports, again whenever the scored items grew by a quarter."""
        if self.fields != "auto":
            return self.fields
        memory = self.context.memory
        if self.candidates is None:
            self.candidates = field_choice.candidates(self.context.stored_fields())
        if not self.candidates or len(memory) < field_choice.MIN_SCORED:
            return ()
        if self.fields_read is None or len(memory) >= RECHOOSE * self.fields_read.scored:
            columns = self._candidate_columns(self.context.data(memory.keys()))
            choice = self.choice or model_choice.FIXED
            # its own draws, so a search that reads no field is the search without fields
            seed = self.context.seed if self.seed is None else self.seed
            rng = np.random.default_rng([seed, len(memory)])
            self.fields_read = field_choice.choose(
                memory.embeddings, columns, memory.scores, rng, choice.width, choice.alpha
            )
        return self.fields_read.fields

    def _candidate_columns(self, rows: list[dict | None]) -> dict[str, np.ndarray]:
        """The candidates' values on the scored items (NaN where missing); a candidate that
        holds something else than numbers there is dropped, with a warning."""
        assert self.candidates is not None
        columns = {}
        for name in self.candidates:
            try:
                columns[name] = field_matrix(rows, (name,), lenient=True)
            except ValueError as error:
                logger.warning("guided: the model does not read %r: %s", name, error)
        self.candidates = tuple(columns)
        return columns

    def _projects(self) -> bool:
        """Whether a pool round scans only the fields the model reads (and fetches its
        picks whole afterwards)."""
        return self.context.supports(Describable) and self.context.supports(Fetchable)

    def _choice(self, x: np.ndarray) -> model_choice.Choice:
        """The model's kernel width and ridge alpha ("auto": chosen again as the scored items
        grow), for the model inputs `x` of the scored items."""
        if self.model == "fixed":
            return model_choice.FIXED
        memory = self.context.memory
        if self.choice is None or len(memory) >= RECHOOSE * self.choice.scored:
            self.choice = model_choice.choose(x, memory.scores, self.rng, features=self.features)
        return self.choice

    def _mode(self, model: RandomFeatureEnsemble, inputs: ModelInputs) -> str:
        """The mode, decided on the first guided round and kept (module doc)."""
        if self.mode_used is None:
            self.mode_used = self.mode
            if self.mode == "auto" and not self.context.supports(Scannable):
                self.mode_used = "neighbourhood"
            elif self.mode == "auto":
                self.pool_estimate = round_cost.measure(
                    self.context.scan(fields=inputs.fields if self._projects() else None),
                    lambda batch: model.predict(
                        inputs(batch.embeddings, batch.metadata, batch.columns)
                    ),
                    self.context.count(),
                    workers=self.rating.workers,  # parts rated at once (Ray: the cluster's)
                    rate_scale=self.features / len(model.features.landmarks),  # at full size
                )
                self.mode_used = round_cost.choose_mode(self.pool_estimate, self.round_seconds)
        return self.mode_used

    def _explore(self, fresh: list[Item], n: int, exclude: Collection[str] = ()) -> list[Item]:
        """`n` random unscored items of the collection (or of those retrieved, when the
        source cannot sample), none of those keyed in `exclude`."""
        if n == 0:
            return []
        if self.context.supports(Sampleable):
            sampled = self._sampled(n + len(exclude))
            return [item for item in sampled if item_key(item) not in exclude][:n]
        items = [item for item in self._unscored(fresh) if item_key(item) not in exclude]
        if not items:
            return []
        picks = self.rng.choice(len(items), min(n, len(items)), replace=False)
        return [items[i] for i in sorted(picks.tolist())]

    def _sampled(self, n: int) -> list[Item]:
        """Up to `n` random unscored items of the collection (one database call)."""
        if n == 0 or not self.context.supports(Sampleable):
            return []
        sampled = self.context.sample(n, int(self.rng.integers(2**31)))
        scored = self.context.scored
        return [item for item in sampled if item_key(item) not in scored]

    def _unscored(self, fresh: list[Item]) -> list[Item]:
        """This round's retrieved items and the earlier candidates, none of them scored."""
        known = self.context.candidates
        return list(known.values()) + [i for i in fresh if item_key(i) not in known]

    def _pool_shortlist(
        self, model: RandomFeatureEnsemble, inputs: ModelInputs, size: int
    ) -> tuple[list[Item], np.ndarray | None]:
        """Rate the whole collection, keep the `size` unscored items the model rates highest."""
        scored = ScoredIds.from_keys(self.context.scored)
        projection = inputs.fields if self._projects() else None
        job = RatingJob(
            model, self.acquisition, self.beta, size, scored, inputs=inputs, projection=projection
        )
        found = self.context.rate(job, self.rating)
        return found.to_items(), (found.predictions if len(found) else None)

    def close(self) -> None:
        """Release the rater (a Ray cluster it started)."""
        self.rating.close()

    def _radius(self) -> float:
        """How close two items of one batch may be: `diversity` x the typical gap between
        scored items and their nearest scored neighbour."""
        if self.diversity == 0:
            return 0.0
        points = self.context.memory.embeddings
        if len(points) > 512:
            points = points[self.rng.choice(len(points), 512, replace=False)]
        squared = (points * points).sum(1)
        d2 = squared[:, None] + squared[None, :] - 2 * points @ points.T
        np.fill_diagonal(d2, np.inf)
        return self.diversity * float(np.sqrt(max(float(np.median(d2.min(axis=1))), 0.0)))

    # update step: where the next queries go ------------------------------------------------

    def __call__(self, queries: list[Query]) -> list[UpdateResponse]:
        """Queries on the best scored items and the best-rated candidates not yet visited."""
        memory = self.context.memory
        order = np.argsort(-memory.scores, kind="stable")
        keys = memory.keys()
        points: dict[str, np.ndarray] = {}
        for row in order.tolist():
            if len(points) >= max(1, self.queries // 2):
                break
            if keys[row] not in self.anchors:
                points[keys[row]] = memory.embeddings[row]
        for key, embedding in self.promising.items():
            if len(points) >= self.queries:
                break
            points.setdefault(key, embedding)
        self.anchors.update(points)
        owners = _owners(queries)
        return [
            UpdateResponse(query=Query(embedding=point), parent_id=owners.get(key))
            for key, point in points.items()
        ]


def _rows(items: list[Item]) -> list[dict | None]:
    return [item.data for item in items]


def _owners(queries: list[Query]) -> dict[str, str | None]:
    """For each item retrieved by `queries`, the id of the query that retrieved it."""
    return {item_key(item): query.internal.id for query in queries for item in query.query_results}
