"""Framework overhead: where the time of a search goes.

    python -m benchmarks.overhead            # both workloads
    python -m benchmarks.overhead --quick    # (b) at 100,000 vectors instead of 1,000,000

(a) the seed tutorial: HF Dataset + FAISS, 10,000 x 64, 5 queries, k=10, 15 iterations,
    the tutorial's Python filter and score functions;
(b) a FAISS flat index over 1,000,000 x 64, 50 start queries, k=10, 15 iterations.
The index time is the time inside the backend (kNN search and row fetch); the score and
filter times are inside the user's functions; everything else is framework overhead.
"""

from __future__ import annotations

import argparse
import string
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from emb_opt import Runner
from emb_opt.schemas import FilterResponse, ScoreResponse
from emb_opt.update import RLUpdate
from emb_opt.utils import build_batch_from_embeddings

Timings = dict[str, float]


def timed(fn: Callable, bucket: str, timings: Timings) -> Callable:
    """Wrap `fn` so its wall time adds up in timings[bucket]."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[bucket] += time.perf_counter() - began

    return wrapper


def seed_score(items: list) -> list[ScoreResponse]:
    embeddings = np.array([i.embedding for i in items])
    distances = np.linalg.norm(embeddings - 0.75, axis=1) / np.sqrt(embeddings.shape[1])
    scores = np.exp(-0.5 * (distances / 5.0) ** 2)
    return [ScoreResponse(valid=True, score=s, data=None) for s in scores]


def seed_filter(items: list) -> list[FilterResponse]:
    return [
        FilterResponse(valid=i.data["rand"] < 0.9, data={"rand": i.data["rand"]}) for i in items
    ]


def tutorial_source() -> tuple[Any, np.ndarray]:
    """The seed tutorial's dataset, generated as the tutorial does, and its start queries."""
    from datasets import Dataset

    from emb_opt.adapters.huggingface import HuggingFaceDataSource

    np.random.seed(42)
    vectors = np.random.randn(10_000, 64)
    letters = list(string.ascii_lowercase)
    rows = [
        {
            "index": i,
            "item": "".join(np.random.choice(letters, size=10).tolist()),
            "rand": np.random.rand(),
            "embedding": vectors[i],
        }
        for i in range(10_000)
    ]
    dataset = Dataset.from_list(rows)
    dataset.add_faiss_index("embedding")
    source = HuggingFaceDataSource(dataset, "embedding", k=10, item_key="item", id_key="index")
    np.random.seed(40)  # as the tutorial does before drawing its start queries
    return source, np.random.randn(5, 64)


def million_source(n: int) -> tuple[Any, np.ndarray]:
    from emb_opt.adapters.faiss import FaissDataSource, import_faiss
    from emb_opt.synthetic import random_corpus

    faiss = import_faiss()
    corpus = random_corpus(n, 64, seed=0)
    index = faiss.IndexFlatL2(64)
    index.add(corpus.embeddings)
    source = FaissDataSource(
        index, k=10, items=corpus.items, metadata=corpus.metadata, embeddings=corpus.embeddings
    )
    return source, np.random.default_rng(1).standard_normal((50, 64))


def measure(source: Any, start: np.ndarray, with_filter: bool, repeats: int) -> dict[str, float]:
    """Median figures over `repeats` searches."""
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        timings: Timings = defaultdict(float)
        for method in ("_nearest", "_fetch"):
            setattr(
                source,
                method,
                timed(getattr(type(source), method).__get__(source), "index", timings),
            )
        score = timed(seed_score, "score", timings)
        flt = timed(seed_filter, "filter", timings) if with_filter else None
        runner = Runner(source, flt, score, None, RLUpdate(lrs=[0.25]))
        began = time.perf_counter()
        _, log = runner.search(build_batch_from_embeddings(start), 15, verbose=False)
        total = time.perf_counter() - began
        overhead = total - timings["index"] - timings["score"] - timings["filter"]
        runs.append(
            {
                "total_s": total,
                "index_s": timings["index"],
                "score_s": timings["score"],
                "filter_s": timings["filter"],
                "overhead_s": overhead,
                "returned": log.counters.returned_items,
                "us_per_item": 1e6 * overhead / log.counters.returned_items,
                "overhead_pct": 100 * overhead / total,
                "score_calls": log.counters.score_calls,
            }
        )
    return {key: float(np.median([run[key] for run in runs])) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="(b) at 100,000 vectors")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000

    rows = []
    source, start = tutorial_source()
    rows.append(("(a) seed tutorial, HF 10k", measure(source, start, True, args.repeats)))
    source, start = million_source(n)
    rows.append((f"(b) FAISS flat {n:,}, 50 queries", measure(source, start, False, args.repeats)))

    print(f"median of {args.repeats} searches, 15 iterations each\n")
    print(
        "| workload | total s | index s | score s | filter s | overhead s | items returned "
        "| overhead us/item | overhead % |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, m in rows:
        print(
            f"| {name} | {m['total_s']:.3f} | {m['index_s']:.3f} | {m['score_s']:.3f} "
            f"| {m['filter_s']:.3f} | {m['overhead_s']:.3f} | {m['returned']:.0f} "
            f"| {m['us_per_item']:.1f} | {m['overhead_pct']:.1f} |"
        )
    compare_with_original(rows[0][1]["total_s"])


def compare_with_original(ours: float) -> None:
    try:
        from benchmarks.original import run_original
    except ImportError:
        print("\n(original emb-opt comparison unavailable: benchmarks/original.py missing)")
        return
    result = run_original({})
    if result is None:
        return
    ratio = result["search_seconds"] / ours
    print(
        f"\noriginal emb-opt 1.0.2 on (a): {result['search_seconds']:.3f} s search, "
        f"{result['score_calls']} score calls; ours {ours:.3f} s: "
        f"the original takes {ratio:.1f}x as long"
    )


if __name__ == "__main__":
    main()
