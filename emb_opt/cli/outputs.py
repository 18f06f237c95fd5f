"""The result files of a run: results.jsonl, results.parquet, the figures of the manifest, and
the table of the best results that `run` and `inspect` print."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import formats
from ..log import KNOWN, KNOWN_ITERATION, SEARCHED, SearchLog
from ..schemas import Item
from .plots import PLOTS
from .stdout import tidy_path

RESULTS = ("results.jsonl", "results.parquet")
MANIFEST_INTERVAL = 1.0  # seconds between a running run's manifest updates, at least
SHOWN_METADATA = 2  # metadata fields in the printed table
WIDEST = 24  # characters of an item or metadata value in the printed table


def result_rows(log: SearchLog, told: Sequence[Item] = ()) -> list[dict[str, Any]]:
    """Valid unique items, best first (lowest first when the run minimizes), then the items
    scored invalid, with their `reason`; `told` adds the items of an open ask/tell iteration
    told so far. Each row: id, item, score (the mean of an item scored more than once; None
    for a failure), how many scores it has (`n_scores`), metadata, the iteration it was found
    in, the query that found it, that query's trajectory (the query tree has the rest), its
    source ("search", or "known": scored before the run, iteration -1), the reason a failure
    has and the embedding."""
    valid = [
        *(_row(log, r["id"], r) for r in log.compile_results()),
        *(_row(log, item.id, _told(item)) for item in told if not item.internal.removed),
    ]
    valid.sort(key=lambda row: log.direction.sort_key(row["score"]))
    failed = [*log.failures(), *(item for item in told if item.internal.removed)]
    return valid + [_row(log, item.id, _told(item)) for item in failed]


def _told(item: Item) -> dict[str, Any]:
    """An item as `compile_results` gives it, with the reason it is invalid (if it is)."""
    internal = item.internal
    return {
        "item": item.item,
        "score": None if internal.removed else item.score,
        "n_scores": 0 if internal.removed else 1,
        "data": item.data,
        "iteration": internal.iteration,
        "query_id": internal.query_id,
        "source": KNOWN if internal.iteration == KNOWN_ITERATION else SEARCHED,
        "removal_reason": internal.removal_reason if internal.removed else None,
        "embedding": item.embedding,
    }


def _row(log: SearchLog, id: Any, result: dict[str, Any]) -> dict[str, Any]:
    node = log.query_tree.nodes.get(result["query_id"] or "")
    return {
        "id": id,
        "item": result["item"],
        "score": result["score"],
        "n_scores": result["n_scores"],
        "metadata": result["data"] or {},
        "iteration": result["iteration"],
        "query_id": result["query_id"],
        "trajectory": None if node is None else node.trajectory,
        "source": result["source"],
        "reason": result["removal_reason"] if result["score"] is None else None,
        "embedding": result["embedding"],
    }


def write_results(
    log: SearchLog, directory: Path, told: Sequence[Item] = ()
) -> list[dict[str, Any]]:
    """Write results.jsonl (for people: no embeddings) and results.parquet (typed columns,
    one per metadata key, and the embeddings), each replacing the last one whole; `told` as
    for `result_rows`."""
    rows = result_rows(log, told)
    table = results_table(rows)
    people = [column for column in table.columns if column.name != "embedding"]
    formats.write(directory / RESULTS[0], formats.Table(people))
    formats.write(directory / RESULTS[1], table)
    return rows


def results_table(rows: list[dict[str, Any]]) -> formats.Table:
    """The columns of the result files, in the order of `result_rows`."""
    kinds = {"id": "id", "item": "value", "score": "float", "n_scores": "int"}
    kinds |= {"metadata": "metadata", "iteration": "int", "query_id": "text"}
    kinds |= {"trajectory": "int", "source": "text", "reason": "text", "embedding": "vector"}
    return formats.Table(
        [formats.Column(name, kind, [row[name] for row in rows]) for name, kind in kinds.items()]
    )


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


def run_figures(log: SearchLog, told: Sequence[Item] = ()) -> dict[str, Any]:
    """Counters and timings for the manifest; `told` (the answers of an open ask/tell
    iteration so far) count as score calls, and the best of them as a best score."""
    best = log.best()
    scores = [item.score for item in told if not item.internal.removed]
    best_score = None if best is None else best.score
    if scores:
        best_score = min([*scores, *([] if best_score is None else [best_score])],
                         key=log.direction.sort_key)  # fmt: skip
    return {
        "counters": {
            "iterations": log.counters.iterations,
            "score_calls": log.counters.score_calls + len(told),
            "filter_calls": log.counters.filter_calls,
            "data_source_calls": log.counters.data_source_calls,
            "unique_items": log.unique_items + len(told),
            "returned_items": log.counters.returned_items,
            "non_finite_scores": log.counters.non_finite_scores,
            "known_scores": log.counters.known_scores,
            "failed": len(log.failures()) + sum(item.internal.removed for item in told),
            "given_up": log.given_up_count(),
        },
        "direction": log.direction.name,
        "best_score": best_score,
        "search_seconds": sum(h["seconds"] for h in log.history),
    }


def top_table(rows: list[dict[str, Any]], top: int) -> str:
    """The best `top` results (rows best first, as results.jsonl holds them): rank, score,
    how many scores it averages (when any shown has more than one), iteration, id, item and
    the first metadata fields of the best one."""
    shown = [row for row in rows if row["score"] is not None][:top]
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
    valid = any(row["score"] is not None for row in rows)
    table = top_table(rows, top) if valid else "no valid results"
    return "\n".join([table, "", *(f"wrote {file}" for file in files if file.exists())])


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _cell(value: Any) -> str:
    text = "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)
    text = " ".join(text.split())  # one line
    return text if len(text) <= WIDEST else text[: WIDEST - 1] + "…"
