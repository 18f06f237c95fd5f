"""What one round of the model-guided strategy costs, by mode and collection size.

    python -m benchmarks.guided_round            # 100,000 and 1,000,000 x 64 in FAISS

A round is the acquisition step (fit the model to 2,000 scored items, rate the candidates:
the whole collection through `scan` in pool mode, the retrieved items plus a fixed random
sample in neighbourhood mode, and choose a diverse batch of 50) plus the update step (the
next queries). Each figure is the median of 5 rounds on one thread (FAISS and BLAS), after a
search that scored 2,000 items of a Gaussian-bump objective. Pool mode's cost grows with the
collection; neighbourhood mode's should not.
"""

from __future__ import annotations

import argparse
import statistics
import time

import faiss
import numpy as np

from emb_opt.adapters.faiss import FaissDataSource
from emb_opt.objectives import TargetScore
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.update import GuidedUpdate
from emb_opt.utils import build_batch_from_items

SIZES = (100_000, 1_000_000)
SCORED = 2_000
ROUNDS = 5


def one_thread() -> None:
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    threadpool_limits(1)


def round_seconds(source: FaissDataSource, mode: str) -> float:
    """Median seconds of an acquisition + update round once `SCORED` items are scored."""
    update = GuidedUpdate(mode=mode, seed=0)  # type: ignore[arg-type]
    runner = Runner(source, None, TargetScore(), None, update, seed=0)
    start = build_batch_from_items(source.sample(10, seed=1))
    batch, _ = runner.search(start, 100, verbose=False, stop=StopRule(max_score_calls=SCORED))
    timings = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        chosen = update.acquire([], None)
        update(batch.valid_queries())
        timings.append(time.perf_counter() - began)
        assert len(chosen) == update.batch
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    one_thread()
    print("| items | pool mode (scan) s/round | neighbourhood mode s/round |")
    print("|---:|---:|---:|")
    for size in sizes:
        embeddings = np.random.default_rng(0).standard_normal((size, 64), dtype=np.float32)
        index = faiss.IndexFlatL2(64)
        index.add(embeddings)
        source = FaissDataSource(index, k=10, embeddings=embeddings)
        pool, neighbourhood = (round_seconds(source, mode) for mode in ("pool", "neighbourhood"))
        print(f"| {size:,} | {pool:.2f} | {neighbourhood:.2f} |", flush=True)


if __name__ == "__main__":
    main()
