"""Filtered search inside the kNN vs unfiltered, and vs filtering after retrieval.

    python -m benchmarks.filters            # 1,000,000 x 64, FAISS flat
    python -m benchmarks.filters --n 100000

For filters `rand < p` matching 50%, 10%, 1% and 0.1% of the rows: the median time of one
batched call (50 queries, k=10) through FaissDataSource, results per query, and items
retrieved then discarded (always 0: the filter runs inside the search). The post-filter
columns show what filtering after an unfiltered k=10 search (the original library's way)
would give: fewer than k results, and the rest discarded.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emb_opt.adapters.faiss import FaissDataSource, import_faiss
from emb_opt.schemas import Query
from emb_opt.synthetic import random_corpus

SELECTIVITIES = (None, 0.5, 0.1, 0.01, 0.001)
K = 10


def median_call_seconds(source: FaissDataSource, queries: list[Query], repeats: int) -> float:
    source(queries)  # warm-up: builds and caches the filter mask
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        source(queries)
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    faiss = import_faiss()
    corpus = random_corpus(args.n, 64, seed=0)
    index = faiss.IndexFlatL2(64)
    index.add(corpus.embeddings)
    rand = np.array([m["rand"] for m in corpus.metadata])
    queries = [Query(embedding=e) for e in np.random.default_rng(1).standard_normal((50, 64))]

    unfiltered = FaissDataSource(index, k=K, metadata=corpus.metadata, embeddings=corpus.embeddings)
    plain = unfiltered(queries)
    base_seconds = median_call_seconds(unfiltered, queries, args.repeats)

    print(f"FAISS flat, {args.n:,} x 64, 50 queries x k={K}, median of {args.repeats} calls\n")
    print(
        "| filter | matches | call s | vs unfiltered | results/query | discarded "
        "| post-filter results/query | post-filter discarded |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for p in SELECTIVITIES:
        if p is None:
            row = ("none", 1.0, base_seconds, K, 0, K, 0)
        else:
            flt = {"rand": {"$lt": p}}
            source = FaissDataSource(
                index, k=K, metadata=corpus.metadata, embeddings=corpus.embeddings, filter=flt
            )
            seconds = median_call_seconds(source, queries, args.repeats)
            results = [len(r.query_results) for r in source(queries)]
            kept = [sum(i.data["rand"] < p for i in r.query_results) for r in plain]
            row = (
                f"rand < {p}",
                float((rand < p).mean()),
                seconds,
                float(np.mean(results)),
                0,
                float(np.mean(kept)),
                float(np.mean([K - k for k in kept])),
            )
        name, share, seconds, per_query, discarded, post, post_discarded = row
        print(
            f"| {name} | {100 * share:.2f}% | {seconds:.4f} | {seconds / base_seconds:.2f}x "
            f"| {per_query:.1f} | {discarded} | {post:.2f} | {post_discarded:.2f} |"
        )
    print_original_waste()


def print_original_waste() -> None:
    try:
        from benchmarks.original import run_original
    except ImportError:
        return
    result = run_original({})
    if result is not None:
        print(
            f"\noriginal emb-opt 1.0.2, seed tutorial: {result['returned_items']} items retrieved, "
            f"{result['filtered_out']} discarded by its Python filter after retrieval "
            f"({100 * result['filtered_out'] / result['returned_items']:.1f}%)"
        )


if __name__ == "__main__":
    main()
