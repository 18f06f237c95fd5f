"""Every strategy built the same way, and one search over a small FAISS corpus."""

from __future__ import annotations

from collections.abc import Callable

from emb_opt.adapters.faiss import FaissDataSource
from emb_opt.log import SearchLog
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.schemas import ScoreFunction, UpdateFunction
from emb_opt.stopping import StopRule
from emb_opt.update import (
    EvolutionUpdate,
    GuidedUpdate,
    LineSearchUpdate,
    RestartUpdate,
    RLUpdate,
    SurrogateUpdate,
)
from emb_opt.utils import build_batch_from_items

Factory = Callable[[FaissDataSource, int], UpdateFunction]

FACTORIES: dict[str, Factory] = {
    "rl": lambda source, seed: RLUpdate(lrs=[0.25]),
    "line_search": lambda source, seed: LineSearchUpdate(),
    "evolution": lambda source, seed: EvolutionUpdate(seed=seed),
    "surrogate": lambda source, seed: SurrogateUpdate(seed=seed),
    "local_surrogate": lambda source, seed: SurrogateUpdate(share=False, seed=seed),
    "restarts": lambda source, seed: RestartUpdate(
        SurrogateUpdate(share=False, seed=seed), patience=2, seed=seed
    ),
    "guided_pool": lambda source, seed: GuidedUpdate(
        batch=20, initial=30, mode="pool", features=64, seed=seed
    ),
    "guided_neighbourhood": lambda source, seed: GuidedUpdate(
        batch=20, initial=30, mode="neighbourhood", features=64, seed=seed
    ),
    "restarts_guided": lambda source, seed: RestartUpdate(
        GuidedUpdate(batch=20, initial=30, features=64, seed=seed), seed=seed
    ),
}
NEW_STRATEGIES = [name for name in FACTORIES if name != "rl"]


def search(
    source: FaissDataSource,
    update: UpdateFunction,
    *,
    starts: int = 4,
    iterations: int = 12,
    budget: int | None = None,
    score: ScoreFunction | None = None,
    seed: int = 0,
) -> SearchLog:
    """One search from `starts` random items of `source`; returns its log."""
    runner = Runner(source, None, score or TargetScore(), None, update)
    batch = build_batch_from_items(source.sample(starts, seed=100 + seed))
    stop = StopRule(max_score_calls=budget) if budget else None
    _, log = runner.search(batch, iterations, verbose=False, stop=stop)
    return log
