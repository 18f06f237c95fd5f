"""Rows of the molecule screening benchmark: baselines and emb_opt strategies.

A method is `(data, objective, seed, budget) -> scored rows in the order they were scored`,
where `objective` is an `Oracle`: `objective(rows)` returns the objective's values at those
rows and counts every call (it refuses to go over the budget). Add a row with one line in
`methods`; an emb_opt row is `emb_opt_row(strategy)` where `strategy` is a run config's
`strategy` block (`{"update": {"name": "surrogate"}}`) or a factory
`(source, seed) -> UpdateFunction`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .molecules_data import DESCRIPTOR_FIELDS
from .stored_fields import NOISE, Collection, Rows, WithFields, stores, variants

STARTS = 5  # emb_opt start items, drawn at random (as the screening benchmark)
K = 10  # kNN results per emb_opt query
MAX_ITERATIONS = 500  # a cap for runs that stall before the budget is spent
BASELINES = (
    "random",
    "greedy kNN walk",
    "pool active learning (RF ridge)",
    "pool active learning (MLP)",
)  # what a skeptical user would write: the goals compare the default with the best of them
DEFAULT = "emb_opt default: guided (auto mode)"
CANDIDATE = "emb_opt guided: model auto (width and alpha chosen per search)"
FIELDS = "emb_opt guided: fields (12 stored RDKit descriptors beside the vector)"
HAND_PICKED = "emb_opt guided: hand-picked fields (the real fields named)"
POOL_FIELDS = "pool active learning (RF ridge) reading the real fields"


class BudgetExceeded(RuntimeError):
    """A method asked for more score calls than its budget."""


class Oracle:
    """The objective as a lookup that counts calls and keeps the order rows were scored in.

    `noise` > 0 adds fresh Gaussian noise of that sd to every value it returns (seeded), so
    a row scored twice gets two different answers; `values` stay noise-free."""

    def __init__(self, values: np.ndarray, budget: int, noise: float = 0.0, seed: int = 0) -> None:
        self.values = values
        self.budget = budget
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.order: list[int] = []  # rows, in the order they were first scored
        self.first_call: list[int] = []  # the call that first scored each row of `order`
        self.note: str | None = None  # what the method reports of its run (the fields it read)
        self._seen: set[int] = set()

    @property
    def left(self) -> int:
        return self.budget - self.calls

    def __call__(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        rows = [int(row) for row in rows]
        if len(rows) > self.left:
            raise BudgetExceeded(f"{len(rows)} score calls asked, {self.left} left")
        for row in rows:
            self.calls += 1
            if row not in self._seen:
                self._seen.add(row)
                self.order.append(row)
                self.first_call.append(self.calls)
        found = self.values[rows]
        return found + self.rng.normal(0, self.noise, len(rows)) if self.noise else found


Method = Callable[[Collection, Oracle, int, int], list[int]]
Metadata = Callable[[Any], Rows | None]  # what a row's source stores, per collection


def random_rows(data: Collection, objective: Oracle, seed: int, budget: int) -> list[int]:
    """Score `budget` rows drawn uniformly at random."""
    rows = np.random.default_rng(seed).choice(len(data), min(budget, len(data)), replace=False)
    objective(rows)
    return rows.tolist()


def greedy_walk(
    data: Collection, objective: Oracle, seed: int, budget: int, starts: int = 10, k: int = 20
) -> list[int]:
    """From random rows, repeatedly score the unscored k nearest neighbours of the best row
    not expanded yet (a random row when every scored row is expanded)."""
    rng = np.random.default_rng(seed)
    first = rng.choice(len(data), starts, replace=False)
    scored = dict(zip(first.tolist(), objective(first)))
    expanded: set[int] = set()
    while objective.left > 0 and len(scored) < len(data):
        frontier = [row for row in scored if row not in expanded]
        if not frontier:
            fresh = [int(r) for r in rng.choice(len(data), 10) if int(r) not in scored][:1]
            scored.update(zip(fresh, objective(fresh)))
            continue
        best = max(frontier, key=scored.__getitem__)
        expanded.add(best)
        _, near = data.index.search(data.embeddings[[best]], k + 1)
        new = [int(row) for row in near[0] if row >= 0 and int(row) not in scored]
        new = new[: objective.left]
        scored.update(zip(new, objective(new)))
    return list(scored)


class KernelRidge:
    """Random-features ridge: Nystroem RBF features (gamma = 1 / median squared distance
    between training rows) and a ridge regression on them. `predict` folds the Nystroem
    whitening into the ridge weights and computes the kernel in float32: the pipeline's
    values to about 1e-5, at a fraction of the cost on a million rows."""

    def __init__(self, seed: int, x: np.ndarray, components: int = 500) -> None:
        from sklearn.kernel_approximation import Nystroem
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline

        sample = x[:500]
        squared = ((sample[:, None, :] - sample[None, :, :]) ** 2).sum(-1)
        self.gamma = 1.0 / max(float(np.median(squared)), 1e-6)
        features = Nystroem(
            gamma=self.gamma, n_components=min(components, len(x)), random_state=seed
        )
        self.pipeline = make_pipeline(features, Ridge(alpha=1e-2))

    def fit(self, x: np.ndarray, y: np.ndarray) -> KernelRidge:
        self.pipeline.fit(x, y)
        features, ridge = self.pipeline
        self.landmarks = features.components_
        self.weights = features.normalization_.T @ ridge.coef_
        self.intercept = ridge.intercept_
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """exp(-gamma |x - landmark|^2) (in float32) times the folded weights."""
        x = np.asarray(x, dtype=np.float32)
        landmarks = self.landmarks.astype(np.float32)
        d2 = (x * x).sum(1)[:, None] + (landmarks * landmarks).sum(1)[None, :] - 2 * x @ landmarks.T
        kernel = np.exp(-np.float32(self.gamma) * np.maximum(d2, 0))
        return kernel @ self.weights.astype(np.float32) + self.intercept


def kernel_ridge(seed: int, x: np.ndarray) -> KernelRidge:
    """An unfitted `KernelRidge` for training rows `x`."""
    return KernelRidge(seed, x)


def mlp(seed: int, x: np.ndarray) -> Any:
    """A small multi-layer perceptron regressor."""
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(
        hidden_layer_sizes=(128, 64),
        alpha=1e-3,
        max_iter=300,
        early_stopping=True,
        random_state=seed,
    )


Model = Callable[[int, np.ndarray], Any]  # (seed, training rows) -> unfitted regressor


def fit_predict(
    model: Model, seed: int, x: np.ndarray, y: np.ndarray, at: np.ndarray, chunk: int = 65_536
) -> np.ndarray:
    """Fit a fresh model on standardised targets and predict at `at` (`chunk` rows at a time)."""
    regressor = model(seed, x)
    regressor.fit(x, (y - y.mean()) / (float(y.std()) or 1.0))
    parts = [regressor.predict(at[i : i + chunk]) for i in range(0, len(at), chunk)]
    return np.concatenate(parts) if parts else np.empty(0)


def _score_best(
    model: Model,
    seed: int,
    data: Collection,
    objective: Oracle,
    scored: list[int],
    values: list[float],
    candidates: np.ndarray,
    batch: int,
) -> None:
    """Fit `model` on the scored rows; score the `batch` candidates it predicts best (in place)."""
    x, y = data.embeddings[scored], np.array(values)
    pred = fit_predict(model, seed, x, y, data.embeddings[candidates])
    new = candidates[np.argsort(-pred, kind="stable")[: min(batch, objective.left)]].tolist()
    scored += new
    values += objective(new).tolist()


def pool_active_learning(
    model: Model, rounds: int = 10, initial: float = 0.1, batch: int | None = None
) -> Method:
    """MolPAL-style: a random batch, then rounds that fit the model on everything scored,
    predict every row, and score the best predicted rows not scored yet: `batch` rows a
    round, or what spends the rest of the budget in `rounds` rounds."""

    def run(data: Collection, objective: Oracle, seed: int, budget: int) -> list[int]:
        first = np.random.default_rng(seed).choice(len(data), int(budget * initial), replace=False)
        scored, values = first.tolist(), objective(first).tolist()
        size = batch or math.ceil(objective.left / rounds)
        while objective.left > 0:
            mask = np.ones(len(data), dtype=bool)
            mask[scored] = False
            _score_best(model, seed, data, objective, scored, values, np.flatnonzero(mask), size)
        return scored

    return run


def reading_fields(method: Method, variant: str) -> Method:
    """`method` reading the embeddings with the columns a variant stores appended
    (`WithFields`): a baseline given the same fields as the guided model."""

    def run(data: Collection, objective: Oracle, seed: int, budget: int) -> list[int]:
        return method(WithFields(data, variant), objective, seed, budget)

    return run


def neighbourhood_active_learning(
    model: Model, best: int = 20, k: int = 200, batch: int = 100, initial: float = 0.1
) -> Method:
    """A random batch, then rounds that score the model's favourites among the k nearest
    neighbours of the `best` scored rows (no full scan of the collection)."""

    def run(data: Collection, objective: Oracle, seed: int, budget: int) -> list[int]:
        rng = np.random.default_rng(seed)
        first = rng.choice(len(data), int(budget * initial), replace=False)
        scored, values = first.tolist(), objective(first).tolist()
        while objective.left > 0:
            top = np.array(scored)[np.argsort(values)[::-1][:best]]
            _, near = data.index.search(data.embeddings[top], k)
            candidates = np.setdiff1d(near[near >= 0], scored)
            if len(candidates) == 0:
                candidates = np.setdiff1d(rng.choice(len(data), batch), scored)
            _score_best(model, seed, data, objective, scored, values, candidates, batch)
        return scored

    return run


def make_update(strategy: dict | Callable[[Any, int], Any], source: Any, seed: int) -> tuple:
    """(update, prune) from a config `strategy` block or a `(source, seed)` factory.

    A block goes through the run config's own resolution (`emb_opt.config.build_strategy`);
    the runner hands the seed to the strategy.
    """
    if callable(strategy):
        return strategy(source, seed), None
    from emb_opt.config import StrategyConfig, build_strategy

    return build_strategy(StrategyConfig.model_validate(strategy))


def emb_opt_row(
    strategy: dict | Callable[[Any, int], Any],
    starts: int = STARTS,
    k: int = K,
    metadata: Metadata | None = None,
) -> Method:
    """An emb_opt search through the public API: FaissDataSource over the same vectors
    (`metadata(data)` stored beside them, when given), a score function that looks the
    value up, `StopRule(max_score_calls=budget)`, start queries at `starts` random items
    (`source.sample`), at most `MAX_ITERATIONS` iterations."""

    def run(data: Collection, objective: Oracle, seed: int, budget: int) -> list[int]:
        from emb_opt.adapters.faiss import FaissDataSource
        from emb_opt.runner import Runner
        from emb_opt.schemas import ScoreResponse
        from emb_opt.stopping import StopRule
        from emb_opt.utils import build_batch_from_items

        def score(items: list) -> list[ScoreResponse]:
            values = objective([int(item.id) for item in items])
            return [ScoreResponse(valid=True, score=float(value)) for value in values]

        stored = metadata(data) if metadata else None
        source = FaissDataSource(data.index, k=k, embeddings=data.embeddings, metadata=stored)
        update, prune = make_update(strategy, source, seed)
        runner = Runner(source, None, score, prune, update, seed=seed)
        start = build_batch_from_items(source.sample(starts, seed=10_000 + seed))
        stop = StopRule(max_score_calls=budget)
        runner.search(start, MAX_ITERATIONS, verbose=False, stop=stop)
        read = getattr(update, "fields_read", None)  # the guided model's last choice of fields
        objective.note = read.describe() if read is not None else None
        return list(objective.order)

    return run


def stored(variant: str) -> Metadata:
    """What a collection stores under a metadata variant (`Collection.stored`)."""
    return lambda data: data.stored(variant)


def descriptor_vector(data: Any) -> Rows:
    """The 12 descriptors as one vector field per molecule (`Molecules.metadata`)."""
    return list(data.metadata)


def default_row(variant: str) -> str:
    """The name of the default's row under a metadata variant ("none": the default's own)."""
    return DEFAULT if variant == "none" else f"{DEFAULT} [stored: {variant}]"


def named_row(variant: str) -> str:
    """The name of the row that names every field a variant stores."""
    return f"emb_opt guided: every stored field named [stored: {variant}]"


def variant_rows(real: str, fields: Sequence[str], batch: int | None = None) -> dict[str, Method]:
    """The rows of the metadata variants of a collection whose real fields (`fields`) make the
    variant `real`: the default under each variant that stores something (the default reads
    what it chooses; "none" is `DEFAULT`, in `skeptic_rows`), every stored field named (where
    noise is stored), and the real fields hand-picked, whose source stores them and the noise
    (it reads only the fields it names)."""
    guided: dict[str, Any] = {"name": "guided"} | ({"batch": batch} if batch else {})
    default = {"update": guided} if batch else {}
    rows = {}
    for variant in variants(real)[:-1]:  # all but "none"
        rows[default_row(variant)] = emb_opt_row(default, starts=10, metadata=stored(variant))
        has_real, has_noise = stores(variant, real)
        if has_noise:
            named = [*fields] * has_real + [*NOISE]
            update = {"update": guided | {"fields": named}}
            rows[named_row(variant)] = emb_opt_row(update, starts=10, metadata=stored(variant))
    update = {"update": guided | {"fields": list(fields)}}
    rows[HAND_PICKED] = emb_opt_row(update, starts=10, metadata=stored(f"{real}+noise"))
    rows[POOL_FIELDS] = reading_fields(pool_active_learning(kernel_ridge, batch=batch), real)
    return rows


def variant_methods(selected: Sequence[str], real: str) -> list[str]:
    """The rows `--metadata` runs: the default under each selected variant, and the
    hand-picked fields when a selected variant stores the real ones."""
    names = [default_row(variant) for variant in selected]
    return names + [HAND_PICKED] * any(stores(variant, real)[0] for variant in selected)


def skeptic_rows(batch: int | None = None) -> dict[str, Method]:
    """The `BASELINES` and the default, reading the embedding only (`batch`: as `methods`)."""
    guided: dict[str, Any] = {"name": "guided"} | ({"batch": batch} if batch else {})
    return {
        "random": random_rows,
        "greedy kNN walk": greedy_walk,
        "pool active learning (RF ridge)": pool_active_learning(kernel_ridge, batch=batch),
        "pool active learning (MLP)": pool_active_learning(mlp, batch=batch),
        DEFAULT: emb_opt_row({"update": guided} if batch else {}, starts=10),
    }


def methods(batch: int | None = None) -> dict[str, Method]:
    """Every row; `batch`: score calls per round of every method that works in rounds
    (active learning, guided), None for each one's own."""
    guided: dict[str, Any] = {"name": "guided"} | ({"batch": batch} if batch else {})
    return (
        skeptic_rows(batch)
        | {
            "neighbourhood active learning": neighbourhood_active_learning(
                kernel_ridge, batch=batch or 100
            ),
            "emb_opt guided: neighbourhood mode (no scan)": emb_opt_row(
                {"update": guided | {"mode": "neighbourhood"}}, starts=10
            ),
            CANDIDATE: emb_opt_row({"update": guided | {"model": "auto"}}, starts=10),
            "emb_opt guided: ucb": emb_opt_row(
                {"update": guided | {"acquisition": "ucb"}}, starts=10
            ),
            "emb_opt guided: 1024 features": emb_opt_row(
                {"update": guided | {"features": 1024}}, starts=10
            ),
            "emb_opt guided: diversity 0.5": emb_opt_row(
                {"update": guided | {"diversity": 0.5}}, starts=10
            ),
            FIELDS: emb_opt_row(
                {"update": guided | {"fields": ["descriptors"]}},
                starts=10,
                metadata=descriptor_vector,
            ),
            "emb_opt rl (the original's update)": emb_opt_row(
                {"update": {"name": "rl", "lrs": [0.25]}}
            ),
            "emb_opt surrogate": emb_opt_row({"update": {"name": "surrogate"}}),
            "emb_opt evolution": emb_opt_row({"update": {"name": "evolution"}}),
            "emb_opt restarts+local surrogate": emb_opt_row(
                {"update": {"name": "restarts", "update": {"name": "surrogate", "share": False}}}
            ),
        }
        | variant_rows("descriptors", DESCRIPTOR_FIELDS, batch)
    )


METHODS = methods()
