"""The pass's table: per row of issue 31, the cases and what they found; then every case
that was not ok, with its note."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

from . import ROWS
from .context import Pass
from .harness import KINDS, Case

HEADERS = ["ok", "lost", "silently wrong", "tracebacks", "hangs", "other"]


def table(cases: list[Case], ctx: Pass, args: argparse.Namespace, seconds: float) -> str:
    code = args.code or Path(__file__).resolve().parents[2]
    lines = [
        f"`python -m benchmarks.adversarial {' '.join(sys.argv[1:])}` against emb_opt at "
        f"{_commit(code)}: {seconds / 60:.1f} minutes, {ctx.commands.count} commands",
        "",
        "| row | what was done | cases | " + " | ".join(HEADERS) + " | seconds |",
        "|---|---|---:|" + "---:|" * len(HEADERS) + "---:|",
    ]
    total: Counter[str] = Counter()
    for name, what, _ in ROWS:
        found = Counter(case.kind for case in cases if case.row == name)
        if not found:
            continue
        total += found
        counts = " | ".join(str(found[kind]) for kind in KINDS)
        took = ctx.seconds.get(name, 0)
        lines.append(f"| {name} | {what} | {sum(found.values())} | {counts} | {took:.0f} |")
    counts = " | ".join(f"**{total[kind]}**" for kind in KINDS)
    lines.append(f"| **total** | | **{sum(total.values())}** | {counts} | {seconds:.0f} |")
    interrupts = ctx.cached.get("interruptions")
    if interrupts:
        lines += ["", _interruptions(interrupts)]
    listed = [case for case in cases if args.all or case.kind != "ok"]
    if listed:
        lines += ["", "Every case:" if args.all else "Cases not ok:", ""]
        lines += [f"- {c.row} / {c.name}: **{c.kind}**: {_one_line(c.note)}" for c in listed]
    return "\n".join(lines)


def _interruptions(counts: Counter[str]) -> str:
    signals = counts["SIGKILL"] + counts["SIGTERM"] + counts["at a file change"]
    return (
        f"Interruptions: {signals} ({counts['SIGKILL']} SIGKILL, {counts['SIGTERM']} SIGTERM, "
        f"{counts['at a file change']} killed just before a change to a file); resumed runs "
        f"equal to uninterrupted ones: {counts['equal']} of {counts['resumed']}."
    )


def _commit(code: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(code), "log", "-1", "--format=%h (%s)"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or str(code)


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:400]
