"""PNG plots of a run: score trajectories of the query tree, best score vs score calls.

Both take time in proportion to the queries and iterations of the run: the trajectories are
drawn as the tree's edges, each once, and the best score comes from the run's history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..log import SearchLog


def write_plots(log: SearchLog, directory: Path) -> list[Path]:
    """Write trajectories.png and best_vs_score_calls.png; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    paths = []
    figure, axes = plt.subplots(figsize=(7, 4))
    segments = [
        [
            (start.iteration or 0, start.mean_score or 0.0),
            (end.iteration or 0, end.mean_score or 0.0),
        ]
        for start, end in log.query_tree.edges()
    ]
    axes.add_collection(LineCollection(segments, colors="tab:blue", alpha=0.4))
    axes.autoscale()
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
    lowest = " (lowest)" if log.direction.name == "minimize" else ""
    axes.set(
        xlabel="score calls",
        ylabel=f"best score so far{lowest}",
        title="Best score vs score calls",
    )
    paths.append(_save(figure, directory / "best_vs_score_calls.png"))
    return paths


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
