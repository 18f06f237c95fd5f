"""PNG plots of a run: score trajectories of the query tree, best score vs score calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..log import SearchLog


def write_plots(log: SearchLog, directory: Path) -> list[Path]:
    """Write trajectories.png and best_vs_score_calls.png; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    figure, axes = plt.subplots(figsize=(7, 4))
    for leaf in log.query_tree.leaf_nodes(include_removed=True):
        path = [n for n in leaf.path() if n.mean_score is not None]
        steps = [n.iteration or 0 for n in path]
        axes.plot(steps, [n.mean_score or 0.0 for n in path], color="tab:blue", alpha=0.4)
    axes.set(
        xlabel="iteration",
        ylabel="mean score of the query's results",
        title="Score trajectories of the query tree",
    )
    paths.append(_save(figure, directory / "trajectories.png"))

    figure, axes = plt.subplots(figsize=(7, 4))
    points = [
        (h["score_calls"], h["best_score"]) for h in log.history if h["best_score"] is not None
    ]
    if points:
        calls, best = zip(*points)
        axes.step(calls, best, where="post", color="tab:green")
        axes.plot(calls, best, "o", color="tab:green", markersize=3)
    axes.set(xlabel="score calls", ylabel="best score so far", title="Best score vs score calls")
    paths.append(_save(figure, directory / "best_vs_score_calls.png"))
    return paths


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
