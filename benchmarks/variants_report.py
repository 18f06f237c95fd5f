"""The tables of the metadata variants: the default under each variant, the fields named by
hand, and the issue's goals (the default with real fields and noise stored within
`GOAL_HAND_PICKED` of the hand-picked fields; with noise only, no worse than with nothing
stored by more than `GOAL_NOISE`; with nothing stored, as in the earlier tables)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from .molecules_methods import DEFAULT, HAND_PICKED, POOL_FIELDS, default_row, named_row

GOAL_HAND_PICKED = 0.02
GOAL_NOISE = 0.01
EARLIER = "the earlier table"  # the key of the earlier figure among a row's
Columns = Mapping[str, Mapping[str, str]]  # header -> objective -> cell


class Result(Protocol):
    method: str
    notes: tuple[str | None, ...]

    def at(self, k: int) -> float: ...


def recall_table(results: Mapping[str, list[Result]], real: str, columns: Columns, k: int) -> str:
    """recall@k of every variant row that ran, per objective (`columns`: leading cells)."""
    rows = _variant_rows(real)
    ran = [name for name in rows if any(_find(o, name) for o in results.values())]
    headers = [*columns, *(rows[name] for name in ran)]
    lines = [
        f"### The metadata variants: recall@{k}",
        "",
        "| objective | " + " | ".join(headers) + " |",
        "|---|" + "---|" * len(columns) + "---:|" * len(ran),
    ]
    for objective, outcomes in results.items():
        cells = [columns[header].get(objective, "") for header in columns]
        cells += [_cell(_find(outcomes, name), k) for name in ran]
        lines.append(f"| {objective} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def goals_table(
    results: Mapping[str, list[Result]], real: str, k: int, earlier: Mapping[str, float] | None
) -> str:
    """The goals per objective, as differences of recall@k, and whether they are met.

    `earlier`: the default's recall@k per objective in the earlier tables (nothing stored);
    None when there are none to compare with."""
    both, noise = default_row(f"{real}+noise"), default_row("noise")
    differences = [
        (f"default [{real}+noise] - hand-picked", both, HAND_PICKED),
        ("default [noise] - default [none]", noise, DEFAULT),
        ("default [none] - earlier table", DEFAULT, EARLIER),
        (f"gain: default [{real}+noise] - default [none]", both, DEFAULT),
        ("gain: hand-picked - default [none]", HAND_PICKED, DEFAULT),
    ]
    if earlier is None:
        differences.pop(2)
    lines = [
        f"### The goals: differences of recall@{k}",
        "",
        "| objective | " + " | ".join(header for header, _, _ in differences) + " |",
        "|---|" + "---:|" * len(differences),
    ]
    columns: list[list[float]] = [[] for _ in differences]
    for objective, outcomes in results.items():
        at = {o.method: o.at(k) for o in outcomes}
        at |= {EARLIER: earlier[objective]} if earlier and objective in earlier else {}
        cells = []
        for column, (_, first, second) in zip(columns, differences):
            if first in at and second in at:
                column.append(round(at[first] - at[second], 3))  # as printed
                cells.append(f"{column[-1]:+.3f}")
            else:
                cells.append("-")
        lines.append(f"| {objective} | " + " | ".join(cells) + " |")
    unchanged = columns[2] if earlier is not None else []
    return "\n".join([*lines, "", *_verdicts(real, columns, unchanged)]) + "\n"


def _verdicts(real: str, columns: list[list[float]], unchanged: list[float]) -> list[str]:
    """One line per goal: on how many objectives it holds and the worst difference."""
    lines = []
    goals = (
        (f"the default with {real} and noise stored", "the hand-picked fields", GOAL_HAND_PICKED),
        ("the default with noise only", "the default with nothing stored", GOAL_NOISE),
    )
    for (subject, other, goal), found in zip(goals, columns):
        if found:
            met = sum(d >= -goal for d in found)
            lines.append(
                f"- {subject} is within {goal} of {other} (or ahead) on {met} of {len(found)} "
                f"objectives; the worst difference is {min(found):+.3f}."
            )
    if unchanged:
        lines.append(
            f"- the default with nothing stored differs from the earlier tables by at most "
            f"{max(map(abs, unchanged)):.3f} ({len(unchanged)} objectives)."
        )
    return lines


def fields_read(results: Mapping[str, list[Result]], real: str) -> str:
    """What the model of every variant row read at the end of each search (by seed)."""
    names = _variant_rows(real)
    lines = []
    for objective, outcomes in results.items():
        for outcome in outcomes:
            if outcome.method in names and any(outcome.notes):
                read = "; ".join(f"{note or '-'}" for note in outcome.notes)
                lines.append(f"- {objective}, {names[outcome.method]}: {read}")
    if not lines:
        return ""
    title = "### The fields the guided model read at the end of each search (seed by seed)"
    return "\n".join([title, "", *lines]) + "\n"


def earlier_recall(paths: list[Path], setting: str, k: int) -> dict[str, float]:
    """The default's recall@k per objective in earlier results files whose tables measured the
    same `setting` (the line naming n, budget and seeds); {} when none did."""
    found: dict[str, float] = {}
    for path in paths:
        if not path.exists():
            continue
        for section in path.read_text().split("\n### ")[1:]:
            objective, _, body = section.partition(" ")
            if f"\n{setting};" not in body:
                continue
            header = next(line for line in body.splitlines() if line.startswith("| method |"))
            column = header.split(" | ").index(f"recall@{k}")
            for line in body.splitlines():
                if line.startswith(f"| {DEFAULT} |"):
                    found[objective] = float(line.split(" | ")[column])
    return found


def _variant_rows(real: str) -> dict[str, str]:
    """The variant rows' names and their column headers, in the tables' order."""
    order = ("none", "noise", real, f"{real}+noise")
    headers = {default_row(variant): f"default [{variant}]" for variant in order}
    headers[HAND_PICKED] = f"{real} hand-picked"
    for variant in (f"{real}+noise", "noise"):
        headers[named_row(variant)] = f"all named [{variant}]"
    headers[POOL_FIELDS] = f"pool AL (RF ridge) reading the {real}"
    return headers


def _find(outcomes: list[Result], name: str) -> Result | None:
    return next((o for o in outcomes if o.method == name), None)


def _cell(outcome: Result | None, k: int) -> str:
    return "-" if outcome is None else f"{outcome.at(k):.3f}"
