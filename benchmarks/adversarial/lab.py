"""Configs, plates scored as a person scores them, and what a run directory holds."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

from emb_opt.objectives import target_distance_score
from emb_opt.synthetic import random_corpus

N, DIM = 3000, 16
CORPUS = random_corpus(N, DIM, seed=0)  # what `data: {kind: synthetic, ...}` below holds
SOURCE = {
    "backend": "faiss",
    "k": 5,
    "filter": {"rand": {"$lt": 0.9}},
    "data": {"kind": "synthetic", "n": N, "dim": DIM, "seed": 0},
}


def write_config(path: Path, output: str | Path, **blocks: Any) -> Path:
    """A guided FAISS config at `path` (its run: `output`), blocks replaced by `blocks` (None
    removes one); `score` defaults to the demo objective."""
    config: dict[str, Any] = {
        "source": SOURCE,
        "score": {"function": "target"},
        "strategy": {"update": {"name": "guided", "batch": 12, "queries": 6, "initial": 12}},
        "start": {"random": 4, "seed": 1},
        "stop": {"iterations": 8, "idle": None},
        "output": {"dir": str(output)},
        "seed": 3,
    }
    config.update(blocks)
    path.write_text(yaml.safe_dump({k: v for k, v in config.items() if v is not None}))
    return path


def external(path: Path, output: str | Path, **blocks: Any) -> Path:
    """An ask/tell config (`score: {external: true}`)."""
    return write_config(path, output, score={"external": True}, **blocks)


def printed_plate(out: str, cwd: Path) -> Path:
    """The plate an `ask` run in `cwd` printed (last line of its stdout)."""
    path = Path(out.strip().splitlines()[-1])
    return path if path.is_absolute() else cwd / path


def plate_rows(plate: Path) -> list[dict[str, str]]:
    with open(plate, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def fill(plate: Path, into: Path) -> dict[str, float]:
    """Score an asked CSV as a person would (the demo objective; every column kept) into
    `into`; the scores told, by id."""
    rows = plate_rows(plate)
    scores = target_distance_score(CORPUS.embeddings[[int(row["id"]) for row in rows]])
    for row, score in zip(rows, scores):
        row["score"] = repr(float(score))
    with open(into, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {row["id"]: float(row["score"]) for row in rows}


def results(run: Path) -> list[dict[str, Any]]:
    """The rows of RUN/results.jsonl (none if it is missing)."""
    path = run / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def told_check(run: Path, told: dict[str, float]) -> tuple[str, str]:
    """('lost', ...) if a told score is missing from the results, ('wrong', ...) if one is
    there twice or differs, ('ok', '') if each is there once."""
    rows = [row for row in results(run) if row.get("source") != "known"]
    seen: dict[str, list[Any]] = {}
    for row in rows:
        seen.setdefault(str(row["id"]), []).append(row.get("score"))
    missing = [id for id in told if id not in seen]
    if missing:
        return "lost", f"{len(missing)} of {len(told)} told score(s) not in results.jsonl"
    doubled = [id for id in told if len(seen[id]) > 1]
    if doubled:
        return "wrong", f"{len(doubled)} told score(s) twice in results.jsonl"
    differ = [id for id, s in told.items() if not _close(seen[id][0], s)]
    if differ:
        return "wrong", f"{len(differ)} told score(s) differ in results.jsonl"
    return "ok", ""


def same_results(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> str:
    """'' if `got` has the ids and iterations of `expected` in order, scores to 1e-9; else
    what differs."""
    if [(r["id"], r["iteration"]) for r in got] != [(r["id"], r["iteration"]) for r in expected]:
        return f"ids differ ({len(got)} rows against {len(expected)})"
    if not all(_close(a["score"], b["score"]) for a, b in zip(got, expected)):
        return "scores differ"
    return ""


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
