"""Screening benchmark: how much of the true top-k each strategy finds, and at what cost.

    python -m benchmarks.screening            # 10k and 100k; 1M for the seed objective
    python -m benchmarks.screening --quick    # 10k and 100k only, 3 seeds
    python -m benchmarks.screening --all-at-1m  # every objective at 1M as well (slow)

Workloads (FAISS flat, 64-d, k=10 per query, every run capped by a score-call budget):
(a) seed: the tutorial's data (`benchmarks._original_worker.generate_data`, so the original
    library runs on the same rows) and its score, with its filter `rand < 0.9` inside the kNN;
(b) multimodal: `clustered_corpus` (8 clusters; the best one, cluster 0, is a sparse region
    of 5% of the rows) with `BumpsScore.on_clusters` (one bump per cluster, the highest there);
(c) metadata: the tutorial's data with `TargetMetadataScore` (position x `rand`): the best
    items are spread over the target's neighbourhood, not gathered at one point.
Each strategy runs from 5 and from 50 random start items (`source.sample`), over several
seeds; recall@1/10/50 is measured against the exhaustive ranking. Prints markdown tables,
writes them with the goal check to benchmarks/results/screening.md, and plots recall@10
against score calls to benchmarks/results/screening.png. The original emb-opt 1.0.2 runs every
workload through `benchmarks.original` (cached in benchmarks/results/original.json).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emb_opt.adapters.faiss import FaissDataSource, import_faiss
from emb_opt.objectives import BumpsScore, TargetMetadataScore, TargetScore, target_distance_score
from emb_opt.runner import Runner
from emb_opt.schemas import ScoreFunction, UpdateFunction
from emb_opt.stopping import StopRule
from emb_opt.synthetic import clustered_corpus
from emb_opt.update import (
    EvolutionUpdate,
    LineSearchUpdate,
    RestartUpdate,
    RLUpdate,
    SurrogateUpdate,
)
from emb_opt.utils import build_batch_from_items

from ._original_worker import DEFAULTS, generate_data

RESULTS = Path(__file__).with_name("results")
SEED_FILTER = {"rand": {"$lt": 0.9}}
BUDGETS = {
    "seed": {10_000: 200, 100_000: 500, 1_000_000: 1000},
    "multimodal": {10_000: 1000, 100_000: 2000, 1_000_000: 2000},
    "metadata": {10_000: 500, 100_000: 1000, 1_000_000: 1000},
}
STARTS = (5, 50)
MAX_ITERATIONS = 120
IDLE = 5  # stop a run after this many iterations that found nothing new

READING = """Recall is the share of the exhaustive top-1/10/50 that the search scored; means over
seeds (start items drawn with `source.sample`, strategies seeded alike). Every run stops at
its score-call budget, after 5 iterations that found nothing new, or after 120 iterations.
Our runner scores each unique item once, so unique items = score calls; DB calls include
`source.sample` reads for restarts. The emb-opt 1.0.2 rows run the original library on the
same rows, objective and filter (its tutorial settings: RLUpdate lr 0.25, 15 iterations, no
budget, start queries drawn from N(0, I)); its score calls count every re-scoring of an item.
The multi-modal corpus has 8 clusters; the highest bump sits on cluster 0, which holds only 5%
of the rows; recall@10 there is mostly the 10 best items around the highest bump.
"""

Factory = Callable[[FaissDataSource, int], UpdateFunction]


STRATEGIES: dict[str, Callable[[int], UpdateFunction]] = {
    "rl (original's update)": lambda seed: RLUpdate(lrs=[0.25]),
    "line_search": lambda seed: LineSearchUpdate(),
    "evolution": lambda seed: EvolutionUpdate(seed=seed),
    "surrogate": lambda seed: SurrogateUpdate(seed=seed),
    "restarts+local surrogate": lambda seed: RestartUpdate(
        SurrogateUpdate(share=False, seed=seed), seed=seed
    ),
}


@dataclass
class Problem:
    """One workload: a data source, a score function and the exhaustive ranking."""

    objective: str
    n: int
    source: FaissDataSource
    score: ScoreFunction
    truth: np.ndarray  # ids of the 50 best eligible items, best first
    budget: int
    seeds: int


@dataclass
class Run:
    """One search: its recall curve and its costs."""

    strategy: str
    starts: int
    seed: int
    curve: list[tuple[int, float, float, float]] = field(default_factory=list)
    unique_items: int = 0
    score_calls: int = 0
    database_calls: int = 0
    seconds: float = 0.0

    @property
    def recall(self) -> tuple[float, float, float]:
        return self.curve[-1][1:] if self.curve else (0.0, 0.0, 0.0)


def flat_source(embeddings: np.ndarray, metadata: list[dict], flt: Any = None) -> FaissDataSource:
    index = import_faiss().IndexFlatL2(embeddings.shape[1])
    index.add(embeddings)
    return FaissDataSource(index, k=10, metadata=metadata, embeddings=embeddings, filter=flt)


def problems(n: int, seeds: int, objectives: tuple[str, ...]) -> Iterator[Problem]:
    """The workloads at one size, built one data set at a time to bound memory."""
    if "seed" in objectives or "metadata" in objectives:
        vectors, _, rand, _ = generate_data({**DEFAULTS, "n": n, "queries": 1})
        embeddings = np.ascontiguousarray(vectors, dtype=np.float32)
        del vectors
        metadata = [{"rand": float(r)} for r in rand]
        if "seed" in objectives:
            scores = np.where(rand < 0.9, target_distance_score(embeddings), -np.inf)
            source = flat_source(embeddings, metadata, SEED_FILTER)
            yield Problem("seed", n, source, TargetScore(), _top(scores), BUDGETS["seed"][n], seeds)
        if "metadata" in objectives:
            score = TargetMetadataScore()
            truth = _top(score.scores(embeddings, {"rand": rand}))
            source = flat_source(embeddings, metadata)
            yield Problem("metadata", n, source, score, truth, BUDGETS["metadata"][n], seeds)
        del embeddings, metadata, source
        gc.collect()
    if "multimodal" in objectives:
        corpus = clustered_corpus(n, seed=0)
        score = BumpsScore.on_clusters(corpus.centres)
        truth = _top(score.scores(corpus.embeddings))
        source = flat_source(corpus.embeddings, corpus.metadata)
        mm_seeds = max(seeds, 10) if n == 100_000 else seeds  # the goal counts 10 seeds
        yield Problem("multimodal", n, source, score, truth, BUDGETS["multimodal"][n], mm_seeds)


def _top(scores: np.ndarray, k: int = 50) -> np.ndarray:
    return np.argsort(-scores, kind="stable")[:k]


def run_one(problem: Problem, name: str, starts: int, seed: int) -> Run:
    """Search once with a fresh strategy; record recall after every iteration."""
    update = STRATEGIES[name](seed)
    runner = Runner(problem.source, None, problem.score, None, update, seed=seed)
    batch = build_batch_from_items(problem.source.sample(starts, seed=10_000 + seed))
    tops = [set(problem.truth[:k].tolist()) for k in (1, 10, 50)]
    found: set[int] = set()
    run = Run(name, starts, seed)

    def record(log: Any) -> None:
        for query in log.batches[-1].queries:
            found.update(item.id for item in query.valid_results() if item.score is not None)
        recalls = [len(found & top) / len(top) for top in tops]
        run.curve.append((log.counters.score_calls, *recalls))

    began = time.perf_counter()
    stop = StopRule(max_score_calls=problem.budget, idle=IDLE)
    _, log = runner.search(batch, MAX_ITERATIONS, verbose=False, stop=stop, on_iteration=record)
    run.seconds = time.perf_counter() - began
    run.unique_items = sum(item.score is not None for item in log.items.values())
    run.score_calls = log.counters.score_calls
    run.database_calls = log.counters.data_source_calls + 1  # the start sample
    return run


def original_runs(problem: Problem, starts: int, cache: dict, scratch: Path) -> list[dict]:
    """The original library on the same rows and objective (15 iterations, lr 0.25), cached.

    Its start queries are drawn from N(0, I), as in the tutorial. The multi-modal rows reach
    it as an .npz in `scratch`, written only when a run is not cached yet.
    """
    import json

    from .original import run_original

    results = []
    for seed in range(problem.seeds):
        workload: dict[str, Any] = {"n": problem.n, "queries": starts, "query_seed": 40 + seed}
        tutorial_data = problem.n == 10_000 and problem.objective != "multimodal"
        workload["index"] = "hf" if tutorial_data else "faiss"
        if problem.objective != "seed":
            workload |= {"objective": problem.objective, "filter": False}
        key = json.dumps(workload, sort_keys=True)
        if key not in cache:
            if problem.objective == "multimodal":
                workload["data_file"] = str(_bumps_file(problem, scratch))
            result = run_original(workload)
            if result is None:
                return []
            kept = {k: v for k, v in result.items() if k not in ("results_ids", "workload")}
            cache[key] = json.loads(json.dumps(kept))  # recall keys as strings, as when reloaded
        results.append(cache[key])
    return results


def _bumps_file(problem: Problem, scratch: Path) -> Path:
    path = scratch / f"multimodal-{problem.n}.npz"
    if not path.exists():
        bumps: Any = problem.score
        np.savez(
            path,
            embeddings=problem.source.embeddings,
            centres=bumps.centres,
            heights=bumps.heights,
            widths=bumps.widths,
        )
    return path


def single_threaded() -> None:
    """One thread for FAISS and BLAS: on a small shared machine, more threads spin and wait."""
    from threadpoolctl import threadpool_limits

    import_faiss().omp_set_num_threads(1)
    threadpool_limits(1)


def main(argv: list[str] | None = None) -> None:
    from .screening_report import goals, load_cache, plot, save_cache, table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k only, 3 seeds")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per run (default 5)")
    parser.add_argument("--no-original", action="store_true", help="skip emb-opt 1.0.2")
    parser.add_argument(
        "--objectives", default="seed,multimodal,metadata", help="at 1,000,000 vectors: seed"
    )
    parser.add_argument("--all-at-1m", action="store_true", help="every objective at 1M too")
    parser.add_argument("--sizes", default=None, help="comma-separated, e.g. 10000,100000")
    args = parser.parse_args(argv)
    single_threaded()
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    if args.sizes:
        sizes = tuple(int(size) for size in args.sizes.split(","))
    seeds = args.seeds or (3 if args.quick else 5)
    objectives = tuple(args.objectives.split(","))
    RESULTS.mkdir(exist_ok=True)
    cache = load_cache(RESULTS / "original.json")
    sections, all_runs = [], {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="emb_opt_screening_") as scratch:
        for n in sizes:
            at_size = objectives
            if n >= 1_000_000 and not args.all_at_1m:
                at_size = tuple(objective for objective in objectives if objective == "seed")
            for problem in problems(n, seeds if n < 1_000_000 else min(seeds, 3), at_size):
                runs = [
                    run_one(problem, name, starts, seed)
                    for name in STRATEGIES
                    for starts in STARTS
                    for seed in range(problem.seeds)
                ]
                original = {}
                if not args.no_original:
                    original = {s: original_runs(problem, s, cache, Path(scratch)) for s in STARTS}
                    save_cache(RESULTS / "original.json", cache)
                section = table(problem, runs, original)
                print(section, flush=True)
                sections.append(section)
                all_runs[(problem.objective, n)] = (problem, runs)
    summary = goals(all_runs)
    print(summary)
    took = f"\nTotal benchmark time: {time.perf_counter() - began:.0f} s.\n"
    print(took)
    command = "python -m benchmarks.screening " + " ".join(sys.argv[1:] if argv is None else argv)
    header = f"# Screening benchmark\n\n`{command.strip()}`\n\n{READING}\n"
    (RESULTS / "screening.md").write_text(header + summary + "\n" + "\n".join(sections) + took)
    plot(all_runs, RESULTS / "screening.png")


if __name__ == "__main__":
    main()
