"""`emb-opt demo`: the embedded default, compared with the exhaustive ground truth."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..config import validate
from ..config.backends import source_spec
from ..objectives import target_distance_score
from .run import execute
from .rundir import RunDirectory
from .stdout import say, tidy_path

DEMO_CONFIG: dict[str, Any] = {
    "source": {
        "backend": "faiss",
        "k": 10,
        "filter": {"rand": {"$lt": 0.9}},
        "data": {"kind": "synthetic", "n": 100_000, "dim": 64, "seed": 0},
    },
    "score": {"function": "target"},
    "start": {"random": 5, "seed": 1},
    "stop": {"max_score_calls": 500},
    "output": {"dir": "runs/demo"},
}


def run_demo(output: Path | None = None, quiet: bool = False) -> dict[str, float]:
    """Run the demo config, print the top results against the truth; return recall figures."""
    config = validate(DEMO_CONFIG, "demo config")
    output = tidy_path(output or config.output.dir)
    if (RunDirectory(output).manifest() or {}).get("config", {}).get("source") == DEMO_CONFIG[
        "source"
    ]:
        shutil.rmtree(output)  # an earlier demo run: start afresh
    source = config.source
    say(
        f"emb_opt demo: {source.data.n:,} generated {source.data.dim}-d vectors in FAISS "  # type: ignore[union-attr]
        f"(flat), filter {source.filter} pushed into the search, {config.start.random} start "
        f"queries, the {config.strategy.update.name} strategy, a budget of "
        f"{config.stop.max_score_calls} score calls\n"
    )
    log = execute(config, DEMO_CONFIG, output, quiet=quiet)

    corpus = source_spec(source).corpus()
    eligible = np.array([row["rand"] < 0.9 for row in corpus.metadata])
    truth = np.argsort(-np.where(eligible, target_distance_score(corpus.embeddings), -np.inf))
    true_rank = {int(row): rank + 1 for rank, row in enumerate(truth[:10_000])}
    results = log.compile_results()
    say(f"\n{'rank':>4}  {'id':>7}  {'item':<10}  {'score':>8}  {'true rank':>9}")
    for rank, row in enumerate(results[:10], 1):
        where = true_rank.get(row["id"], ">10000")
        say(f"{rank:>4}  {row['id']:>7}  {row['item']:<10}  {row['score']:8.5f}  {where!s:>9}")
    found = {row["id"] for row in results}
    figures = {f"recall@{k}": len(found & set(truth[:k].tolist())) / k for k in (1, 10, 50)}
    figures["scored fraction"] = log.counters.score_calls / len(corpus.embeddings)
    say(
        f"\nscored {log.counters.score_calls:,} of {len(corpus.embeddings):,} items "
        f"({100 * figures['scored fraction']:.2f}%): "
        + ", ".join(f"{k} {v:.2f}" for k, v in figures.items() if k.startswith("recall"))
        + f"\noutputs in {output}/ (results.parquet, results.jsonl, log/, manifest.json, *.png)"
    )
    return figures
