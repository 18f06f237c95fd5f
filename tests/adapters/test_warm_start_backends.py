"""Warm starts on every backend a config can name: `start.scores` by id and by a metadata key,
and `start.ids`, over data files whose metadata holds the items (`items_key: item`).

Each backend serves the same files from its embedded engine (PostgreSQL started for the run
from a pgvector `path:`); the known items must enter the log with their scores, the stale
and filtered-out rows be skipped with one warning, and the start queries be the given items.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engines import postgres_skip_reason

from emb_opt.cli.main import main
from emb_opt.config import build_run, validate

N, DIM = 300, 8
VECTORS = np.random.default_rng(5).standard_normal((N, DIM)).astype(np.float32)
RAND = np.random.default_rng(6).random(N)
METADATA = [
    {"item": f"mol-{i}", "smiles": f"C{i}O", "rand": float(RAND[i])} for i in range(N)
]  # "item" holds the items: the config says `items_key: item`
METADATA[21]["smiles"] = METADATA[20]["smiles"]  # one compound, two items
PASSING = [i for i in range(N) if RAND[i] < 0.9]  # the config's filter
REJECTED = next(i for i in range(N) if RAND[i] >= 0.9)
KNOWN = [i for i in PASSING if i not in (20, 21)][:12]
START_IDS = PASSING[-3:]


def backend_param(name: str) -> Any:
    marks = []
    if name == "pgvector":  # the run starts a PostgreSQL server
        marks.append(pytest.mark.engine)
        if reason := postgres_skip_reason():
            marks.append(pytest.mark.skip(reason=reason))
    return pytest.param(name, marks=marks, id=name)


BACKENDS = [
    backend_param(name)
    for name in ("faiss", "pgvector", "chroma", "lancedb", "qdrant", "qdrant-edge", "milvus")
]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A directory others may enter: as root, PostgreSQL runs as the `postgres` user and
    must reach its data directory (pytest's tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="emb_opt_warm-"))
    try:
        directory.chmod(0o755)
        np.save(directory / "vectors.npy", VECTORS)
        lines = "".join(json.dumps(row) + "\n" for row in METADATA)
        (directory / "metadata.jsonl").write_text(lines)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def config(folder: Path, backend: str, start: dict[str, Any]) -> dict[str, Any]:
    where = folder / ("db.db" if backend == "milvus" else "db")
    source: dict[str, Any] = {"backend": backend, "collection": "warm", "k": 5}
    if backend != "faiss":
        source["path"] = str(where)
    data = {"kind": "files", "embeddings": str(folder / "vectors.npy")}
    data |= {"metadata": str(folder / "metadata.jsonl"), "items_key": "item"}
    return {
        "source": {**source, "filter": {"rand": {"$lt": 0.9}}, "data": data},
        "score": {"function": "target"},
        "strategy": {"update": {"name": "guided", "batch": 5, "queries": 3, "initial": 10}},
        "start": start,
        "stop": {"iterations": 2, "max_score_calls": 15},
        "output": {"dir": str(folder / "out")},
    }


def scores_file(path: Path, keys: list[Any], scores: list[float]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "score"])
        writer.writerows(zip(keys, scores))
    return path


def known_rows(log: Any) -> dict[Any, dict]:
    return {row["id"]: row for row in log.compile_results() if row["source"] == "known"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_known_scores_by_key_and_start_ids(backend, folder, caplog):
    scores = [0.1 * (i + 1) for i in range(len(KNOWN))]
    smiles = [METADATA[i]["smiles"] for i in KNOWN]
    keys = [*smiles, "C20O", "stale", METADATA[REJECTED]["smiles"]]
    known = scores_file(folder / "known.csv", keys, [*scores, 9.0, 1.0, 1.0])
    start = {"scores": str(known), "key": "smiles", "ids": START_IDS}
    run = build_run(validate(config(folder, backend, start)))
    try:
        log = run.start_log()
        rows = known_rows(log)
        assert sorted(rows) == sorted([*KNOWN, 20, 21])
        for i, score in zip(KNOWN, scores):
            assert rows[i]["score"] == pytest.approx(score)
            assert rows[i]["item"] == f"mol-{i}" and rows[i]["iteration"] == -1
            assert np.allclose(rows[i]["embedding"], VECTORS[i], atol=1e-6)
        assert rows[20]["score"] == rows[21]["score"] == pytest.approx(9.0)
        (warning,) = [r.getMessage() for r in caplog.records if r.name == "emb_opt.warmstart"]
        assert warning.endswith(
            "skipped 2 rows whose smiles value is not in the collection (or fails the "
            f"source's filter): stale, {METADATA[REJECTED]['smiles']}"
        )
        queries = np.stack([query.embedding for query in log.pending.queries])
        assert np.allclose(queries, VECTORS[START_IDS], atol=1e-6)
        _, log = run.runner.search(None, 2, log=log, verbose=False, stop=run.stop)
        assert log.counters.known_scores == len(KNOWN) + 2
        assert known_rows(log).keys() == rows.keys()
    finally:
        run.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_warm_started_by_id(backend, folder, caplog):
    scores = [float(i) / N for i in KNOWN]
    known = scores_file(folder / "known.csv", [*KNOWN, 987654], [*scores, 1.0])
    path = folder / "run.yaml"
    path.write_text(json.dumps(config(folder, backend, {"scores": str(known), "ids": START_IDS})))
    assert main(["run", str(path), "--quiet"]) == 0
    results = [
        json.loads(line) for line in (folder / "out" / "results.jsonl").read_text().splitlines()
    ]
    found = {row["id"]: row for row in results if row["source"] == "known"}
    assert sorted(found) == sorted(KNOWN)
    assert all(found[i]["score"] == pytest.approx(s) for i, s in zip(KNOWN, scores))
    assert all(found[i]["item"] == f"mol-{i}" for i in KNOWN)
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "emb_opt.warmstart"]
    assert warning.endswith(
        "skipped 1 row whose id is not in the collection (or fails the source's filter): 987654"
    )
