"""Tables, goal check and plot of the screening benchmark (`benchmarks.screening`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .screening import Problem, Run

LABELS = {
    "seed": "seed objective",
    "multimodal": "multi-modal objective",
    "metadata": "metadata objective",
}


def load_cache(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def save_cache(path: Path, cache: dict) -> None:
    path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def table(problem: Problem, runs: list[Run], original: dict[int, list[dict]]) -> str:
    """One markdown table: every strategy and start size, means over the seeds."""
    title = (
        f"### {LABELS[problem.objective]}, {problem.n:,} vectors, budget "
        f"{problem.budget:,} score calls, {problem.seeds} seeds\n"
    )
    header = [
        "strategy",
        "starts",
        "recall@1",
        "recall@10",
        "recall@50",
        "top-1 found",
        "unique items",
        "% of DB",
        "score calls",
        "DB calls",
        "seconds",
    ]
    lines = [title, _row(header), _row(["---"] * len(header))]
    for (name, starts), group in _groups(runs).items():
        recalls = np.array([run.recall for run in group])
        unique = _mean([run.unique_items for run in group])
        lines.append(
            _row(
                [
                    name,
                    starts,
                    *(f"{value:.2f}" for value in recalls.mean(axis=0)),
                    f"{int((recalls[:, 0] == 1).sum())}/{len(group)}",
                    f"{unique:,.0f}",
                    f"{100 * unique / problem.n:.2f}",
                    f"{_mean([run.score_calls for run in group]):,.0f}",
                    f"{_mean([run.database_calls for run in group]):,.0f}",
                    f"{_mean([run.seconds for run in group]):.2f}",
                ]
            )
        )
    for starts, results in original.items():
        if results:
            lines.append(_original_row(problem, starts, results))
    if original and not any(original.values()):
        lines.append("\n(the original emb-opt 1.0.2 could not be run here)")
    return "\n".join(lines) + "\n"


def _original_row(problem: Problem, starts: int, results: list[dict]) -> str:
    """The original library: 15 iterations, no budget; its score calls include repeats."""
    recalls = np.array([[r["recall"][str(k)] for k in (1, 10, 50)] for r in results])
    unique = _mean([r["unique_items"] for r in results])
    return _row(
        [
            "**emb-opt 1.0.2** (15 iterations, no budget)",
            starts,
            *(f"{value:.2f}" for value in recalls.mean(axis=0)),
            f"{int((recalls[:, 0] == 1).sum())}/{len(results)}",
            f"{unique:,.0f}",
            f"{100 * unique / problem.n:.2f}",
            f"{_mean([r['score_calls'] for r in results]):,.0f}",
            f"{_mean([r['data_calls'] for r in results]):,.0f}",
            f"{_mean([r['search_seconds'] for r in results]):.2f}",
        ]
    )


def _groups(runs: list[Run]) -> dict[tuple[str, int], list[Run]]:
    groups: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.strategy, run.starts), []).append(run)
    return groups


def _seed_10k(group: list[Run]) -> float:
    recalls = np.array([run.recall for run in group]).mean(axis=0)
    return min(recalls[1] - 0.9, recalls[2] - 0.8)


def _seed_1m(group: list[Run]) -> float:
    return float(np.mean([run.recall[1] for run in group])) - 0.9


def _multimodal(group: list[Run]) -> float:
    return sum(run.recall[0] == 1 for run in group) / len(group) - 0.8


GOALS = [
    ("seed", 10_000, "recall@10 >= 0.9 and recall@50 >= 0.8 within 200 score calls", _seed_10k),
    ("seed", 1_000_000, "recall@10 >= 0.9 within 1,000 score calls", _seed_1m),
    ("multimodal", 100_000, "top-1 found in >= 8 of 10 seeds within 2,000 calls", _multimodal),
]


def _describe(name: str, starts: int, group: list[Run]) -> str:
    recalls = np.array([run.recall for run in group]).mean(axis=0)
    found = sum(run.recall[0] == 1 for run in group)
    return (
        f"{name} ({starts} starts): recall@1/10/50 {recalls[0]:.2f}/{recalls[1]:.2f}/"
        f"{recalls[2]:.2f}, top-1 in {found}/{len(group)} seeds"
    )


def goals(all_runs: dict[tuple[str, int], tuple[Problem, list[Run]]]) -> str:
    """The issue's three goals: which strategies meet them, or how far the best one falls short."""
    lines = ["## Goals\n"]
    for objective, n, text, margin in GOALS:
        head = f"- {LABELS[objective]}, {n:,} vectors, {text}:"
        if (objective, n) not in all_runs:
            lines.append(f"{head} not run")
            continue
        groups = _groups(all_runs[(objective, n)][1])
        met = [key for key, group in groups.items() if margin(group) >= 0]
        if met:
            lines.append(f"{head} **MET** by")
            lines += [f"  - {_describe(*key, groups[key])}" for key in met]
        else:
            best = max(groups, key=lambda key: margin(groups[key]))
            short = -margin(groups[best])
            lines.append(f"{head} **NOT MET**; closest, short by {short:.2f}:")
            lines.append(f"  - {_describe(*best, groups[best])}")
    return "\n".join(lines) + "\n"


def _curve(run: Run, grid: np.ndarray) -> np.ndarray:
    """Recall@10 after the last iteration whose score calls stayed within each grid value."""
    calls = np.array([point[0] for point in run.curve])
    recall = np.array([point[2] for point in run.curve])
    positions = np.searchsorted(calls, grid, side="right") - 1
    return np.where(positions >= 0, recall[np.maximum(positions, 0)], 0.0)


def plot(all_runs: dict[tuple[str, int], tuple[Problem, list[Run]]], path: Path) -> None:
    """Recall@10 against score calls: one panel per workload, one line per strategy."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed (pip install -e ".[cli]"): no plot written')
        return
    objectives = list(dict.fromkeys(key[0] for key in all_runs))
    sizes = sorted({key[1] for key in all_runs})
    width = max(4.2 * len(sizes), 9.0)
    figure, axes = plt.subplots(
        len(objectives), len(sizes), figsize=(width, 3.2 * len(objectives) + 1), squeeze=False
    )
    every_run = [run for _, runs in all_runs.values() for run in runs]
    names = dict.fromkeys(run.strategy for run in every_run)
    colours = dict(zip(names, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    styles = dict(zip(sorted({run.starts for run in every_run}), ("-", "--", ":")))
    for row, objective in enumerate(objectives):
        for column, n in enumerate(sizes):
            axis = axes[row][column]
            if (objective, n) not in all_runs:
                axis.axis("off")
                continue
            problem, runs = all_runs[(objective, n)]
            grid = np.linspace(0, problem.budget, 101)
            for (name, starts), group in _groups(runs).items():
                mean = np.mean([_curve(run, grid) for run in group], axis=0)
                label = f"{name}, {starts} starts" if row == column == 0 else None
                axis.plot(grid, mean, styles[starts], color=colours[name], label=label)
            axis.set_title(f"{LABELS[objective]}, {n:,}", fontsize=9)
            axis.set_xlabel("score calls", fontsize=8)
            axis.set_ylabel("recall@10", fontsize=8)
            axis.set_ylim(-0.02, 1.02)
    figure.legend(loc="lower center", ncol=2, fontsize=7)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
