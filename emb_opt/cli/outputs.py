"""The result files of a run: results.jsonl, results.parquet, the figures of the manifest, and
the table of the best results that `run` and `inspect` print."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import write_atomically
from ..log import SearchLog
from . import tables
from .plots import PLOTS
from .stdout import tidy_path

RESULTS = ("results.jsonl", "results.parquet")
MANIFEST_INTERVAL = 1.0  # seconds between a running run's manifest updates, at least
SHOWN_METADATA = 2  # metadata fields in the printed table
WIDEST = 24  # characters of an item or metadata value in the printed table


def result_rows(log: SearchLog) -> list[dict[str, Any]]:
    """Valid unique items, best first (lowest first when the run minimizes): id, item, score
    (the mean of an item scored more than once), how many scores it has (`n_scores`),
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
                "n_scores": result["n_scores"],
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
    """Write results.jsonl (for people: no embeddings) and results.parquet (typed columns,
    one per metadata key, and the embeddings), each replacing the last one whole."""
    rows = result_rows(log)
    lines = [
        json.dumps({name: value for name, value in row.items() if name != "embedding"}, default=str)
        for row in rows
    ]
    write_atomically(directory / RESULTS[0], "".join(line + "\n" for line in lines))
    tables.write_parquet(results_table(rows), directory / RESULTS[1])
    return rows


def results_table(rows: list[dict[str, Any]]) -> Any:
    """The Arrow table of results.parquet."""
    import numpy as np
    import pyarrow as pa

    vectors = [np.asarray(r["embedding"]) for r in rows]
    dimension = len(vectors[0]) if vectors else 1  # Arrow needs one, even with no rows
    flat = np.concatenate(vectors) if vectors else np.zeros(0, np.float32)
    columns = [
        ("id", tables.id_array([r["id"] for r in rows])),
        ("item", tables.value_array([r["item"] for r in rows])),
        ("score", pa.array([r["score"] for r in rows], pa.float64())),
        ("n_scores", pa.array([r["n_scores"] for r in rows], pa.int64())),
        ("iteration", pa.array([r["iteration"] for r in rows], pa.int64())),
        ("query_id", tables.text_array([r["query_id"] for r in rows])),
        ("trajectory", pa.array([r["trajectory"] for r in rows], pa.int64())),
        ("source", tables.text_array([r["source"] for r in rows])),
        ("embedding", pa.FixedSizeListArray.from_arrays(pa.array(flat), dimension)),
    ]
    return tables.table(columns, [r["metadata"] for r in rows])


class LiveOutputs:
    """Keeps a running run's manifest figures and results current, at a bounded cost: after a
    checkpoint, the manifest when a second has passed since it was last written, the results
    when `interval` seconds have passed and ten times as long as their last rewrite took (so
    rewriting them takes at most about a tenth of the run's time)."""

    def __init__(
        self,
        directory: Path,
        write_manifest: Callable[[dict[str, Any]], None],
        interval: float = 2.0,
    ) -> None:
        self.directory = directory
        self.write_manifest = write_manifest
        self.interval = interval
        self._manifest_at = self._results_at = float("-inf")  # when each was last written
        self._took = 0.0  # how long the last results rewrite took

    def update(self, log: SearchLog) -> None:
        now = time.perf_counter()
        if now - self._manifest_at >= MANIFEST_INTERVAL:
            self._manifest_at = now
            self.write_manifest(run_figures(log))
        if now - self._results_at >= max(self.interval, 10 * self._took):
            self._results_at = now
            write_results(log, self.directory)
            self._took = time.perf_counter() - now


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


def top_table(rows: list[dict[str, Any]], top: int) -> str:
    """The best `top` results (rows best first, as results.jsonl holds them): rank, score,
    how many scores it averages (when any shown has more than one), iteration, id, item and
    the first metadata fields of the best one."""
    shown = rows[:top]
    first = shown[0]["metadata"] if shown else {}
    keys = [k for k, v in (first or {}).items() if _plain(v)][:SHOWN_METADATA]
    counts = any(row["n_scores"] > 1 for row in shown)
    header = ["rank", "score", *(["n"] if counts else []), "iteration", "id", "item", *keys]
    body = [
        [
            str(rank),
            f"{row['score']:.5f}",
            *([str(row["n_scores"])] if counts else []),
            str(row["iteration"]),
            _cell(row["id"]),
            _cell(row.get("item")),
            *(_cell((row.get("metadata") or {}).get(key)) for key in keys),
        ]
        for rank, row in enumerate(shown, 1)
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    right = 4 if counts else 3  # rank, score, n and iteration are right-aligned
    return "\n".join(
        "  ".join(
            cell.rjust(width) if i < right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths))
        ).rstrip()
        for line in [header, *body]
    )


def finished_report(rows: list[dict[str, Any]], directory: Path, top: int = 10) -> str:
    """What `run` prints at the end: the best results and where the files are."""
    path = tidy_path(directory).absolute()
    files = [path / name for name in (*RESULTS, *PLOTS)]
    table = top_table(rows, top) if rows else "no valid results"
    return "\n".join([table, "", *(f"wrote {file}" for file in files if file.exists())])


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _cell(value: Any) -> str:
    text = "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)
    text = " ".join(text.split())  # one line
    return text if len(text) <= WIDEST else text[: WIDEST - 1] + "…"
