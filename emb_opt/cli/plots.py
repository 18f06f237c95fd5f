"""PNG plots of a run, for a reader who wants to know how the search went at a glance:

- `best_and_top_k.png`: the best score and the mean of the best 10 and 100 against score calls;
- `scores_per_round.png`: the scores of the items each round scored (a box per round);
- `top_k_per_round.png`: how many of the current top k each round found (a bar per round).

"Best" follows the search's own ranking (`log.best()`), so a search that minimises reads the
same way. Each plot takes time in proportion to the items and rounds of the run; with more
than `MAX_BOXES` rounds, consecutive rounds share a box or bar.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..log import SearchLog

PLOTS = ("best_and_top_k.png", "scores_per_round.png", "top_k_per_round.png")
TOP_KS = (10, 100)  # the top-k means drawn against score calls
MAX_BOXES = 40  # boxes or bars per plot; more rounds are grouped


def write_plots(log: SearchLog, directory: Path) -> list[Path]:
    """Write the three plots of `log` into `directory`; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    rounds = scores_by_round(log)
    sign = log.direction.sign
    return [
        _best_and_top_k(rounds, round_calls(log, rounds), sign, directory / PLOTS[0]),
        _scores_per_round(rounds, directory / PLOTS[1]),
        _top_k_per_round(rounds, sign, directory / PLOTS[2]),
    ]


def scores_by_round(log: SearchLog) -> list[list[float]]:
    """The scores of the valid items each round (iteration) scored, round 0 first."""
    rounds: list[list[float]] = [[] for _ in range(log.counters.iterations)]
    for item in log.items.values():
        if item.internal.removed or item.score is None:
            continue
        number = item.internal.iteration or 0
        rounds.extend([] for _ in range(number + 1 - len(rounds)))
        rounds[number].append(item.score)
    return rounds


def round_calls(log: SearchLog, rounds: Sequence[Sequence[float]]) -> list[int]:
    """Score calls spent by the end of each round (counting scored items where the log keeps
    no history for a round)."""
    calls, spent = [], 0
    for number, scores in enumerate(rounds):
        spent = (
            log.history[number]["score_calls"] if number < len(log.history) else spent + len(scores)
        )
        calls.append(spent)
    return calls


def _best_and_top_k(rounds: list[list[float]], calls: list[int], sign: float, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    best: list[tuple[int, float]] = []
    means: dict[int, list[tuple[int, float]]] = {k: [] for k in TOP_KS}
    heaps: dict[int, list[float]] = {k: [] for k in TOP_KS}  # the k best, as sign * score
    for spent, scores in zip(calls, rounds):
        for score in scores:
            for k, heap in heaps.items():
                (heapq.heappush if len(heap) < k else heapq.heappushpop)(heap, sign * score)
        for k, heap in heaps.items():
            if len(heap) == k:
                means[k].append((spent, sign * sum(heap) / k))
        if heaps[TOP_KS[0]]:
            best.append((spent, sign * max(heaps[TOP_KS[0]])))
    for k, color in zip(TOP_KS, ("tab:blue", "tab:purple")):
        if means[k]:
            axes.plot(*zip(*means[k]), color=color, label=f"mean of the best {k}")
    if best:
        axes.step(*zip(*best), where="post", color="tab:green", linewidth=2, label="best score")
        axes.legend(loc="best")
    axes.set(
        xlabel="score calls",
        ylabel="score",
        title="Best score so far, and the mean of the best 10 and 100",
    )
    axes.grid(alpha=0.3)
    return _save(figure, path)


def _groups(count: int) -> list[range]:
    """Consecutive rounds, at most MAX_BOXES groups of them."""
    width = -(-count // MAX_BOXES) if count else 1
    return [range(start, min(start + width, count)) for start in range(0, count, width)]


def _centres(groups: list[range]) -> list[float]:
    """Where each group's box or bar stands on an axis of iteration numbers."""
    return [group.start + (len(group) - 1) / 2 for group in groups]


def _round_axis(axes: Any, groups: list[range], what: str) -> None:
    """An axis of iteration numbers (0 is the first, as in results.jsonl) that says how many
    share a box or bar."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    axes.set_xlim(-0.5, (groups[-1].stop if groups else 1) - 0.5)
    width = len(groups[0]) if groups else 1
    grouped = f", {width} per {what}" if width > 1 else ""
    axes.set_xlabel(f"iteration (round){grouped}")


def _scores_per_round(rounds: list[list[float]], path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    groups = _groups(len(rounds))
    boxes = [[s for number in group for s in rounds[number]] for group in groups]
    filled = [n for n, scores in enumerate(boxes) if scores]
    centres, width = _centres(groups), 0.6 * len(groups[0]) if groups else 0.6
    if filled:
        axes.boxplot(
            [boxes[n] for n in filled],
            positions=[centres[n] for n in filled],
            whis=(5, 95),
            showfliers=False,
            widths=width,
            manage_ticks=False,
            patch_artist=True,
            boxprops={"facecolor": "tab:blue", "alpha": 0.35},
            medianprops={"color": "tab:blue"},
        )
        tops = [max(boxes[n]) for n in filled]
        axes.plot(
            [centres[n] for n in filled],
            tops,
            "v",
            color="tab:green",
            ms=4,
            label="round's highest",
        )
        axes.legend(loc="best")
    _round_axis(axes, groups, "box")
    axes.set(
        ylabel="score", title="Scores of the items each round scored (box: 25-75%, whiskers: 5-95%)"
    )
    axes.grid(alpha=0.3, axis="y")
    return _save(figure, path)


def _top_k_per_round(rounds: list[list[float]], sign: float, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    valid = sum(len(scores) for scores in rounds)
    k = min(TOP_KS[-1], max(TOP_KS[0], valid // 5))
    ranked = heapq.nlargest(
        k, ((sign * s, number) for number, scores in enumerate(rounds) for s in scores)
    )
    found = [0] * len(rounds)
    for _, number in ranked:
        found[number] += 1
    groups = _groups(len(rounds))
    counts = [sum(found[n] for n in group) for group in groups]
    width = 0.8 * len(groups[0]) if groups else 0.8
    axes.bar(_centres(groups), counts, width=width, color="tab:orange")
    _round_axis(axes, groups, "bar")
    axes.set(ylabel=f"items of the top {k}", title=f"Which rounds found the current top {k}")
    axes.grid(alpha=0.3, axis="y")
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
