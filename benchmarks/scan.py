"""Full-scan speed: `source.scan()` over every item, per backend.

    python -m benchmarks.scan
    python -m benchmarks.scan --sizes 100000 --embedded-n 20000 --budget 60

NumPy and FAISS (IndexFlatL2, vectors read back with `reconstruct_n`) scan n x 64 float32
vectors with row-number ids; "numpy + metadata" adds an id and a metadata dict per row. The
embedded databases (Chroma PersistentClient, Milvus Lite, Qdrant local mode) hold
`--embedded-n` rows with {"rand": U(0, 1)} each. The table shows the median of 3 full scans
at the default batch size. A database row is skipped, with the reason printed, when its
client is not installed or when a 5,000-row probe projects loading plus three scans beyond
`--budget` seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

PROBE = 5_000
DIMENSION = 64
Make = Callable[[np.ndarray, list[dict]], Any]  # (vectors, metadata) -> data source


def corpus(n: int, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIMENSION), dtype=np.float32)
    return vectors, [{"rand": float(r)} for r in rng.random(n)]


def full_scan(source: Any) -> tuple[float, int]:
    """(seconds, rows) of one full scan."""
    began = time.perf_counter()
    rows = sum(len(batch.ids) for batch in source.scan())
    return time.perf_counter() - began, rows


def median_scan(source: Any, expected: int, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        seconds, rows = full_scan(source)
        if rows != expected:
            raise AssertionError(f"scan returned {rows} rows, expected {expected}")
        times.append(seconds)
    return statistics.median(times)


# ---- in-process sources ----------------------------------------------------------------


def numpy_source(vectors: np.ndarray, metadata: list[dict] | None) -> Any:
    from emb_opt.adapters.numpy import NumpyDataSource

    ids = [f"id-{i}" for i in range(len(vectors))] if metadata else None
    return NumpyDataSource(vectors, ids=ids, metadata=metadata)


def faiss_source(vectors: np.ndarray) -> Any:
    from emb_opt.adapters.faiss import FaissDataSource, import_faiss

    index = import_faiss().IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    return FaissDataSource(index)


# ---- embedded databases ----------------------------------------------------------------


@contextmanager
def chroma(folder: Path) -> Iterator[Make]:
    import chromadb

    from emb_opt.adapters.chroma import ChromaDataSource, load_collection

    client = chromadb.PersistentClient(path=str(folder / "chroma"))

    def make(vectors: np.ndarray, metadata: list[dict]) -> Any:
        name = f"scan_{len(vectors)}"
        load_collection(client, name, vectors, metadata, recreate=True)
        return ChromaDataSource(client, name, id_type=int)

    yield make


@contextmanager
def milvus_lite(folder: Path) -> Iterator[Make]:
    from pymilvus import MilvusClient

    from emb_opt.adapters.milvus import MilvusDataSource, load_collection

    client = MilvusClient(str(folder / "milvus.db"))

    def make(vectors: np.ndarray, metadata: list[dict]) -> Any:
        name = f"scan_{len(vectors)}"
        load_collection(client, name, vectors, metadata, recreate=True)
        return MilvusDataSource(client, name)

    try:
        yield make
    finally:
        client.close()


@contextmanager
def qdrant_local(folder: Path) -> Iterator[Make]:
    from qdrant_client import QdrantClient

    from emb_opt.adapters.qdrant import QdrantDataSource, load_collection

    client = QdrantClient(":memory:")

    def make(vectors: np.ndarray, metadata: list[dict]) -> Any:
        name = f"scan_{len(vectors)}"
        load_collection(client, name, vectors, metadata, recreate=True)
        return QdrantDataSource(client, name)

    yield make


EMBEDDED: dict[str, tuple[Callable[[Path], Any], str]] = {
    "chroma embedded": (chroma, "chromadb"),
    "milvus lite": (milvus_lite, "pymilvus[milvus-lite]"),
    "qdrant local mode": (qdrant_local, "qdrant-client"),
}


def embedded_row(label: str, n: int, budget: float) -> tuple[float | None, str]:
    """(median seconds, note) for one embedded database, or (None, why skipped)."""
    backend, package = EMBEDDED[label]
    vectors, metadata = corpus(n)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        try:
            make = stack.enter_context(backend(Path(folder)))
        except ImportError:
            return None, f"not installed (pip install {package!r})"
        began = time.perf_counter()
        probe = make(vectors[:PROBE], metadata[:PROBE])
        load_probe = time.perf_counter() - began
        scan_probe, _ = full_scan(probe)
        projected = (load_probe + 3 * scan_probe) * n / PROBE
        if projected > budget:
            return None, f"too slow: a {PROBE:,}-row probe projects {projected:.0f} s"
        began = time.perf_counter()
        source = make(vectors, metadata)
        loaded = time.perf_counter() - began
        return median_scan(source, n), f"load {loaded:.1f} s"


def print_row(label: str, n: int, seconds: float | None, note: str = "") -> None:
    if seconds is None:
        print(f"{label:<20} {n:>10,} {'skipped':>10} {'':>12}  {note}", flush=True)
        return
    print(f"{label:<20} {n:>10,} {seconds:>10.3f} {n / seconds:>12,.0f}  {note}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--embedded-n", type=int, default=100_000)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per database row")
    args = parser.parse_args(argv)
    print(f"full scan, {DIMENSION}-d float32, default batch size; median of 3")
    print(f"{'backend':<20} {'rows':>10} {'seconds':>10} {'rows/s':>12}  note")
    for n in args.sizes:
        vectors, metadata = corpus(n)
        for label, source in (
            ("numpy", numpy_source(vectors, None)),
            ("numpy + metadata", numpy_source(vectors, metadata)),
            ("faiss (flat)", faiss_source(vectors)),
        ):
            print_row(label, n, median_scan(source, n))
            del source
    for label in EMBEDDED:
        seconds, note = embedded_row(label, args.embedded_n, args.budget)
        print_row(label, args.embedded_n, seconds, note)


if __name__ == "__main__":
    main()
