"""Warm-start lookups per backend: `fetch` by id and `start.key` by a metadata field.

    python -m benchmarks.warm_start
    python -m benchmarks.warm_start --n 100000 --rows 3000 --backends lancedb qdrant-edge

Each backend serves the same collection, opened as a config opens it (embedded engines in a
temporary folder; pgvector starts its embedded PostgreSQL there): `--n` rows of 32
dimensions with {"smiles": "C<i>O", "rand": U(0, 1)}. The table shows the seconds of one
`fetch` of `--rows` random ids and of `fetch_known` for `--rows` random smiles values (plus
one the collection lacks, skipped with a warning), each the median of 3, and the database
calls a key lookup makes (`--rows` / 1,000 narrowed scans).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from emb_opt.adapters.backend import builtin_backends
from emb_opt.adapters.spec import SourceSpec
from emb_opt.synthetic import Corpus
from emb_opt.warmstart import LOOKUP_BATCH, fetch_known

BACKENDS = ("faiss", "lancedb", "qdrant-edge", "chroma", "milvus", "qdrant", "pgvector")


def corpus(n: int) -> Corpus:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, 32), dtype=np.float32)
    metadata = [{"smiles": f"C{i}O", "rand": float(r)} for i, r in enumerate(rng.random(n))]
    return Corpus(vectors, [None] * n, metadata)


def median_seconds(work: Callable[[], Any], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def measure(name: str, data: Corpus, rows: int, folder: Path) -> tuple[float, float]:
    """(fetch seconds, key lookup seconds) on backend `name`."""
    path = None if name == "faiss" else str(folder / ("db.db" if name == "milvus" else name))
    spec = SourceSpec(backend=name, path=path, collection="bench", item_key=None, data=lambda: data)
    source = builtin_backends()[name].connect(spec)
    try:
        chosen = np.random.default_rng(1).choice(len(data.embeddings), rows, replace=False)
        ids = [int(i) for i in chosen]
        answers = [(f"C{i}O", 1.0, None) for i in ids] + [("stale", 1.0, None)]
        fetched = median_seconds(lambda: source.fetch(ids))
        looked_up = median_seconds(lambda: fetch_known(source, answers, key="smiles"))
    finally:
        source.close()
    return fetched, looked_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="rows in the collection")
    parser.add_argument("--rows", type=int, default=1_000, help="ids / key values looked up")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    args = parser.parse_args()
    logging.getLogger("emb_opt.warmstart").setLevel(logging.ERROR)  # the skipped row, each time
    data = corpus(args.n)
    scans = -(-args.rows // LOOKUP_BATCH)
    scanned = f"{scans} narrowed scan{'s' if scans > 1 else ''} by key"
    print(f"{args.n:,} rows; {args.rows:,} ids / smiles values looked up ({scanned})")
    print(f"{'backend':12} {'fetch s':>9} {'by key s':>9}")
    for name in args.backends:
        with tempfile.TemporaryDirectory(prefix="emb_opt_bench-") as folder:
            Path(folder).chmod(0o755)  # the postgres user runs pgvector's embedded server
            try:
                fetched, looked_up = measure(name, data, args.rows, Path(folder))
            except Exception as error:  # a missing client or engine: say so, go on
                print(f"{name:12} skipped: {type(error).__name__}: {error}"[:120])
                continue
        print(f"{name:12} {fetched:9.3f} {looked_up:9.3f}")


if __name__ == "__main__":
    main()
