"""An ask/tell run for the CLI tests: its config, and plates scored as a person would."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import yaml

from emb_opt.objectives import target_distance_score
from emb_opt.synthetic import random_corpus

CORPUS = random_corpus(3000, 16, seed=0)  # what `data: {kind: synthetic, ...}` below holds


def write(tmp_path: Path, name: str, **score) -> Path:
    """A config `NAME.yaml` in `tmp_path` (its run: `tmp_path/NAME`) with this `score` block."""
    config = {
        "source": {
            "backend": "faiss",
            "k": 5,
            "filter": {"rand": {"$lt": 0.9}},
            "data": {"kind": "synthetic", "n": 3000, "dim": 16, "seed": 0},
        },
        "score": score,
        "strategy": {"update": {"name": "guided", "batch": 12, "queries": 6, "initial": 12}},
        "start": {"random": 4, "seed": 1},
        "stop": {"iterations": 10, "idle": None},
        "output": {"dir": name},
        "seed": 3,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def results(output: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
    return [(r["id"], r["score"], r["iteration"]) for r in rows]


def fill(asked: Path, order: np.random.Generator | None = None) -> Path:
    """Score an asked CSV as a person would: the same objective as `target`, rows shuffled."""
    with open(asked) as handle:
        rows = list(csv.DictReader(handle))
    scores = target_distance_score(CORPUS.embeddings[[int(r["id"]) for r in rows]])
    for row, score in zip(rows, scores):
        row["score"] = repr(float(score))
    if order is not None:
        rows = [rows[i] for i in order.permutation(len(rows))]
    filled = asked.with_name(asked.stem + "-scored.csv")
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return filled
