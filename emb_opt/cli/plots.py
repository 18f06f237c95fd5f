"""PNG plots of a run, for a reader who wants to know how the search went at a glance:

- `best_and_top_k.png`: the best score and the mean of the best 10 and 100 against score calls;
- `scores_per_round.png`: the scores of the items each round scored (a box per round);
- `top_k_per_round.png`: how many of the current top k each round found (a bar per round).

"Best" follows the search's own ranking (`log.best()`), so a search that minimises reads the
same way. Items scored before the search (`start.scores`) are its baseline: drawn at 0 score
calls and as a "known" box and bar left of round 0. Best and mean-of-best are step lines: they
hold their value until a round changes it. Each plot takes time in proportion to the items and
rounds of the run; with more than `MAX_BOXES` rounds, consecutive rounds share a box or bar.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..log import KNOWN_ITERATION, SearchLog

PLOTS = ("best_and_top_k.png", "scores_per_round.png", "top_k_per_round.png")
TOP_KS = (10, 100)  # the top-k means drawn against score calls
MAX_BOXES = 40  # boxes or bars per plot; more rounds are grouped


def write_plots(log: SearchLog, directory: Path) -> list[Path]:
    """Write the three plots of `log` into `directory`; return their paths."""
    return [_save(figure, directory / name) for name, figure in draw_plots(log).items()]


def draw_plots(log: SearchLog) -> dict[str, Any]:
    """The three plots of `log` as matplotlib figures, by file name (`PLOTS`)."""
    import matplotlib

    matplotlib.use("Agg")
    known, rounds = known_scores(log), scores_by_round(log)
    sign = log.direction.sign
    return {
        PLOTS[0]: _best_and_top_k(known, rounds, round_calls(log, rounds), sign),
        PLOTS[1]: _scores_per_round(known, rounds, sign),
        PLOTS[2]: _top_k_per_round(known, rounds, sign),
    }


def known_scores(log: SearchLog) -> list[float]:
    """The valid scores of the items known before the search (`start.scores`)."""
    return [
        item.score
        for item in log.items.values()
        if item.internal.iteration == KNOWN_ITERATION
        and not item.internal.removed
        and item.score is not None
    ]


def scores_by_round(log: SearchLog) -> list[list[float]]:
    """The scores of the valid items each round (iteration) of the search scored, round 0
    first (items known before it are `known_scores`)."""
    rounds: list[list[float]] = [[] for _ in range(log.counters.iterations)]
    for item in log.items.values():
        number = item.internal.iteration or 0
        if item.internal.removed or item.score is None or number == KNOWN_ITERATION:
            continue
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


def _best_and_top_k(
    known: list[float], rounds: list[list[float]], calls: list[int], sign: float
) -> Any:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    best: list[tuple[int, float]] = []
    means: dict[int, list[tuple[int, float]]] = {k: [] for k in TOP_KS}
    heaps: dict[int, list[float]] = {k: [] for k in TOP_KS}  # the k best, as sign * score
    steps = ([(0, known)] if known else []) + list(zip(calls, rounds))  # known: no calls spent
    for spent, scores in steps:
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
            axes.step(*zip(*means[k]), where="post", color=color, label=f"mean of the best {k}")
    if best:
        axes.step(*zip(*best), where="post", color="tab:green", linewidth=2, label="best score")
    if known:
        axes.plot(
            [0],
            [sign * max(sign * s for s in known)],
            "o",
            color="tab:gray",
            label=f"best of {len(known)} known before the search",
        )
    if best:
        axes.legend(loc="best")
    axes.set(
        xlabel="score calls",
        ylabel=_score_label(sign),
        title="Best score so far, and the mean of the best 10 and 100",
    )
    axes.grid(alpha=0.3)
    return figure


def _groups(count: int) -> list[range]:
    """Consecutive rounds, at most MAX_BOXES groups of them."""
    width = -(-count // MAX_BOXES) if count else 1
    return [range(start, min(start + width, count)) for start in range(0, count, width)]


def _centres(groups: list[range]) -> list[float]:
    """Where each group's box or bar stands on an axis of iteration numbers."""
    return [group.start + (len(group) - 1) / 2 for group in groups]


def _known_centre(groups: list[range]) -> float:
    """Where the box or bar of the known items stands: one group's width left of round 0."""
    return -(len(groups[0]) + 1) / 2 if groups else -1.0


def _round_axis(axes: Any, groups: list[range], what: str, known: bool) -> None:
    """An axis of iteration numbers (0 is the first, as in results.jsonl) that says how many
    share a box or bar, with "known" left of round 0 when there are known items."""
    from matplotlib.ticker import MaxNLocator

    last = groups[-1].stop - 1 if groups else 0
    ticks = [t for t in MaxNLocator(nbins=12, integer=True).tick_values(0, last) if 0 <= t <= last]
    labels = [str(int(t)) for t in ticks]
    left = -0.5
    if known:
        left = _known_centre(groups) - (len(groups[0]) if groups else 1) / 2
        ticks, labels = [_known_centre(groups), *ticks], ["known", *labels]
    axes.set_xticks(ticks, labels)
    axes.set_xlim(left, last + 0.5)
    width = len(groups[0]) if groups else 1
    grouped = f", {width} per {what}" if width > 1 else ""
    axes.set_xlabel(f"iteration (round){grouped}")


def _scores_per_round(known: list[float], rounds: list[list[float]], sign: float) -> Any:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    groups = _groups(len(rounds))
    boxes = [[s for number in group for s in rounds[number]] for group in groups]
    centres, width = _centres(groups), 0.6 * len(groups[0]) if groups else 0.6
    filled = [(centres[n], scores) for n, scores in enumerate(boxes) if scores]
    if known:
        filled.insert(0, (_known_centre(groups), known))
    if filled:
        axes.boxplot(
            [scores for _, scores in filled],
            positions=[centre for centre, _ in filled],
            whis=(5, 95),
            showfliers=False,
            widths=width,
            manage_ticks=False,
            patch_artist=True,
            boxprops={"facecolor": "tab:blue", "alpha": 0.35},
            medianprops={"color": "tab:blue"},
        )
        tops = [sign * max(sign * s for s in scores) for _, scores in filled]
        best = "best of the round" + (" (lowest)" if sign < 0 else "")
        axes.plot([c for c, _ in filled], tops, "*", color="tab:green", ms=7, label=best)
        axes.legend(loc="best")
    _round_axis(axes, groups, "box", bool(known))
    axes.set(
        ylabel=_score_label(sign),
        title="Scores of the items each round scored (box: 25-75%, whiskers: 5-95%)",
    )
    axes.grid(alpha=0.3, axis="y")
    return figure


def _top_k_per_round(known: list[float], rounds: list[list[float]], sign: float) -> Any:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    valid = len(known) + sum(len(scores) for scores in rounds)
    k = min(TOP_KS[-1], max(TOP_KS[0], valid // 5))
    everything = [(KNOWN_ITERATION, known), *enumerate(rounds)]
    ranked = heapq.nlargest(k, ((sign * s, n) for n, scores in everything for s in scores))
    found = [0] * len(rounds)
    from_known = sum(1 for _, number in ranked if number == KNOWN_ITERATION)
    for _, number in ranked:
        if number != KNOWN_ITERATION:
            found[number] += 1
    groups = _groups(len(rounds))
    centres, counts = _centres(groups), [sum(found[n] for n in group) for group in groups]
    if known:
        centres, counts = [_known_centre(groups), *centres], [from_known, *counts]
    width = 0.8 * len(groups[0]) if groups else 0.8
    axes.bar(centres, counts, width=width, color="tab:orange")
    _round_axis(axes, groups, "bar", bool(known))
    axes.set(ylabel=f"items of the top {k}", title=f"Which rounds found the current top {k}")
    axes.grid(alpha=0.3, axis="y")
    return figure


def _score_label(sign: float) -> str:
    return "score" if sign > 0 else "score (lower is better)"


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
