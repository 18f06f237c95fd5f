"""The result files of a run: results.jsonl, results.parquet, and the figures of the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..log import SearchLog


def result_rows(log: SearchLog) -> list[dict[str, Any]]:
    """Valid unique items, best first (lowest first when the run minimizes): id, item, score,
    metadata, the iteration it was found in, the query that found it, that query's
    trajectory (the query tree has the rest), its source ("search", or "known": scored
    before the run, iteration -1), and the embedding."""
    rows = []
    for result in log.compile_results():
        node = log.query_tree.nodes.get(result["query_id"] or "")
        rows.append(
            {
                "id": result["id"],
                "item": result["item"],
                "score": result["score"],
                "metadata": result["data"] or {},
                "iteration": result["iteration"],
                "query_id": result["query_id"],
                "trajectory": None if node is None else node.trajectory,
                "source": result["source"],
                "embedding": result["embedding"],
            }
        )
    return rows


def write_results(log: SearchLog, directory: Path) -> list[dict[str, Any]]:
    """Write results.jsonl (for people: no embeddings) and results.parquet (with them)."""
    rows = result_rows(log)
    with open(directory / "results.jsonl", "w") as handle:
        for row in rows:
            readable = {name: value for name, value in row.items() if name != "embedding"}
            handle.write(json.dumps(readable, default=str) + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": [str(r["id"]) for r in rows],
            "item": [None if r["item"] is None else str(r["item"]) for r in rows],
            "score": [r["score"] for r in rows],
            "metadata": [json.dumps(r["metadata"], default=str) for r in rows],
            "iteration": [r["iteration"] for r in rows],
            "query_id": [r["query_id"] for r in rows],
            "trajectory": [r["trajectory"] for r in rows],
            "source": [r["source"] for r in rows],
            "embedding": [r["embedding"].tolist() for r in rows],
        }
    )
    pq.write_table(table, directory / "results.parquet")
    return rows


def run_figures(log: SearchLog) -> dict[str, Any]:
    """Counters and timings for the manifest."""
    best = log.best()
    return {
        "counters": {
            "iterations": log.counters.iterations,
            "score_calls": log.counters.score_calls,
            "filter_calls": log.counters.filter_calls,
            "data_source_calls": log.counters.data_source_calls,
            "unique_items": log.unique_items,
            "returned_items": log.counters.returned_items,
            "non_finite_scores": log.counters.non_finite_scores,
            "known_scores": log.counters.known_scores,
        },
        "direction": log.direction.name,
        "best_score": None if best is None else best.score,
        "search_seconds": sum(h["seconds"] for h in log.history),
    }
