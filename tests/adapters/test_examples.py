"""Every example config runs on its backend's real engine; only the source block differs.

The exact engines find the same items with the same scores; Chroma (HNSW only, even with a
wide ef) may take a different path after a near tie, so it must agree on the best item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from emb_opt.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BACKENDS = [
    *("numpy", "faiss", "hf", "qdrant", "chroma", "milvus", "pgvector"),
    *("lancedb", "qdrant_edge"),
]


def test_examples_differ_only_in_their_source_block():
    configs = [yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text()) for name in BACKENDS]
    for config in configs:
        config.pop("source")
        config.pop("output")
    assert all(config == configs[0] for config in configs)


@pytest.fixture(scope="module")
def engine_urls(chroma_server, milvus_server, postgres_server):
    return {
        "EMB_OPT_CHROMA_URL": chroma_server.url,
        "EMB_OPT_MILVUS_URI": milvus_server.uri,
        "EMB_OPT_PGVECTOR_URL": postgres_server.url,
    }


def test_every_example_runs_and_finds_the_same_items(engine_urls, tmp_path, monkeypatch):
    for name, value in engine_urls.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EMB_OPT_QDRANT_URL", raising=False)  # Qdrant: in-process local mode
    monkeypatch.setenv("EMB_OPT_LANCEDB_PATH", str(tmp_path / "lancedb"))  # embedded engines
    monkeypatch.setenv("EMB_OPT_QDRANT_EDGE_PATH", str(tmp_path / "qdrant-edge"))
    found = {}
    for backend in BACKENDS:
        output = tmp_path / "runs" / backend
        assert (
            main(["run", str(EXAMPLES / f"{backend}.yaml"), "--output", str(output), "--quiet"])
            == 0
        )
        rows = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
        found[backend] = rows
    reference = found["numpy"]
    for backend, rows in found.items():
        assert rows[0]["id"] == reference[0]["id"], backend
        assert rows[0]["score"] == pytest.approx(reference[0]["score"], rel=1e-6)
        if backend != "chroma":
            assert [r["id"] for r in rows] == [r["id"] for r in reference], backend
            scores = [r["score"] for r in rows]
            assert scores == pytest.approx([r["score"] for r in reference], rel=1e-6)
