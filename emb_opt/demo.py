"""The demo job: hill-climb a generated corpus in FAISS and compare with the exhaustive answer."""

from __future__ import annotations

import time

import numpy as np

from .adapters.faiss import FaissDataSource, import_faiss
from .objectives import TargetScore, target_distance_score
from .prune import TopKPrune
from .runner import Runner
from .synthetic import random_corpus
from .update import RLUpdate
from .utils import build_batch_from_embeddings


def run_demo(
    n: int = 100_000, dimension: int = 64, queries: int = 20, iterations: int = 15, seed: int = 0
) -> dict[str, float]:
    """Run the demo search and print progress, the top results and recall against the truth."""
    faiss = import_faiss()
    print(f"building a FAISS flat index over {n:,} generated {dimension}-d vectors ...")
    corpus = random_corpus(n, dimension, seed)
    index = faiss.IndexFlatL2(dimension)
    index.add(corpus.embeddings)
    source = FaissDataSource(
        index,
        k=10,
        items=corpus.items,
        metadata=corpus.metadata,
        embeddings=corpus.embeddings,
        filter={"rand": {"$lt": 0.9}},
    )
    # two step sizes per trajectory; pruning keeps the better query of each trajectory
    prune = TopKPrune(k=1, score_agg="max", group_by="collection_id")
    runner = Runner(source, None, TargetScore(), prune, RLUpdate(lrs=[0.25, 1.0]))
    start = np.random.default_rng(seed + 1).standard_normal((queries, dimension))
    began = time.perf_counter()
    _, log = runner.search(build_batch_from_embeddings(start), iterations)
    elapsed = time.perf_counter() - began

    results = log.compile_results()
    truth_scores = target_distance_score(corpus.embeddings)
    eligible = np.array([m["rand"] < 0.9 for m in corpus.metadata])
    truth = np.argsort(-np.where(eligible, truth_scores, -np.inf))
    found = {r["id"] for r in results}
    print("\ntop results:")
    print(f"{'rank':>4}  {'id':>8}  {'item':<10}  {'score':>8}  {'true rank':>9}")
    true_rank = {int(row): rank for rank, row in enumerate(truth[:1000])}
    for rank, row in enumerate(results[:10]):
        where = true_rank.get(row["id"], ">1000")
        print(
            f"{rank + 1:>4}  {row['id']:>8}  {row['item']:<10}  {row['score']:8.5f}  {where!s:>9}"
        )
    summary = {f"recall@{k}": len(found & set(truth[:k].tolist())) / k for k in (1, 10, 50)}
    summary["scored fraction"] = log.counters.score_calls / n
    print(
        f"\nscored {log.counters.score_calls:,} of {n:,} items "
        f"({100 * summary['scored fraction']:.2f}%) in {elapsed:.2f}s; "
        + ", ".join(f"{k} {v:.2f}" for k, v in summary.items() if k.startswith("recall"))
    )
    return summary
