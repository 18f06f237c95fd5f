"""Commands interrupted at random points (SIGKILL or SIGTERM a random time after they took
the run directory's lock, or killed just before a random change to a file), then resumed as
a person would: each resumed run must equal the uninterrupted one (ids and iterations
exactly, scores to 1e-9), with every told score in the results once."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

from .context import Pass
from .harness import Case, Done, worst
from .lab import external, fill, plate_rows, printed_plate, results, same_results, told_check

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}
AT_CHANGE = "at a file change"
HOLDER = ".emb-opt.lock.json"  # the note a command writes once it holds the lock


class Interrupter:
    """Runs commands, interrupting some (`chance`), and counts the interruptions."""

    def __init__(self, ctx: Pass, seed: int) -> None:
        self.ctx, self.rng = ctx, random.Random(seed)
        self.counts: Counter[str] = ctx.cached.setdefault("interruptions", Counter())
        self.troubles: list[str] = []  # the hangs and tracebacks of its commands

    def command(
        self, run: Path, *args: str, chance: float, longest: float, cwd: Path
    ) -> tuple[Done, str | None]:
        """`args` on `run`, interrupted with probability `chance` (a signal within `longest`
        seconds of taking the lock, or a kill at one of its first `4 * longest` changes to
        a file); its end, and how it was interrupted (None: it was not)."""
        how = self.rng.choice([*SIGNALS, AT_CHANGE]) if self.rng.random() < chance else None
        point = self.rng.randint(1, int(4 * longest))
        env = {"ADV_DIE_AT": f"{point}:{run}"} if how == AT_CHANGE else {}
        began = time.time()
        started = self.ctx.commands.start(*args, cwd=cwd, env=env)
        if how in SIGNALS:
            bound = time.monotonic() + self.ctx.commands.timeout
            while started.running() and time.monotonic() < bound and not _holds(run, began):
                time.sleep(0.02)
            time.sleep(self.rng.uniform(0, longest))
            if started.running():
                os.kill(started.pid, SIGNALS[how])
            else:
                how = None
        done = self.ctx.commands.wait(started)
        if how == AT_CHANGE and done.code != 137:
            how = None
        if how:
            self.counts[how] += 1
        if done.kind():
            self.troubles.append(f"{args[0]} ({how or 'not interrupted'}): {done.trouble()}")
        return done, how


def _holds(run: Path, since: float) -> bool:
    """Whether a command started at `since` has written its lock note in `run`."""
    try:
        return (run / HOLDER).stat().st_mtime >= since
    except OSError:
        return False


def interrupted_and_resumed(ctx: Pass) -> list[Case]:
    cases = []
    for seed in range(ctx.seeds):
        cases.append(_run(ctx, seed))
        cases.append(_ask_tell(ctx, seed))
    return cases


def _run(ctx: Pass, seed: int) -> Case:
    """`emb-opt run` interrupted up to 5 times (3 with --quick), resumed each time."""
    config, expected = ctx.straight()
    out = ctx.dir(f"interrupted-run-{seed}") / "out"
    interrupter = Interrupter(ctx, seed)
    base = ["run", str(config), "--output", str(out), "--quiet"]
    kind, notes, resume, tried_other = "ok", [], False, False
    for attempt in range(12):
        chance = 1.0 if attempt < (3 if ctx.quick else 5) else 0.0
        args = [*base, "--resume"] if resume else base
        done, how = interrupter.command(out, *args, chance=chance, longest=6.0, cwd=out.parent)
        kind = worst(kind, done.kind())
        if how:
            resume, tried_other = True, False
        elif done.code == 0:
            break
        elif not tried_other:  # refused: the other way round (--resume or not), as it says
            resume, tried_other = not resume, True
        else:  # both refused: a dead end; start again
            kind, notes = worst(kind, "other"), [*notes, f"dead end: {done.said()}"]
            shutil.rmtree(out, ignore_errors=True)
            resume, tried_other = False, False
    notes += interrupter.troubles
    return _compared(ctx, "run", seed, kind, notes, results(out), expected)


def _compared(ctx: Pass, what: str, seed: int, kind: str, notes: list[str], got, expected) -> Case:
    counts = ctx.cached["interruptions"]
    counts["resumed"] += 1
    differs = same_results(got, expected)
    if differs:
        lost = len(got) < len(expected)
        kind, notes = worst(kind, "lost" if lost else "wrong"), [*notes, differs]
    else:
        counts["equal"] += 1
    return Case("interrupts", f"{what}, seed {seed}", kind, "; ".join(notes) or "equal")


def _ask_tell(ctx: Pass, seed: int) -> Case:
    """Rounds of `ask` and `tell`, each command interrupted with probability 1/2; after an
    interrupted ask the person asks again (or tells the plate `status` says is out), after
    an interrupted tell tells the same file again."""
    rounds = 3 if ctx.quick else 4
    expected = _reference(ctx, rounds)
    folder = ctx.dir(f"interrupted-asktell-{seed}")
    config, run = external(folder / "lab.yaml", "lab"), folder / "lab"
    interrupter = Interrupter(ctx, 1000 + seed)
    kind, notes, told = "ok", [], {}
    for round in range(rounds):
        plate, found = _asked(interrupter, config, run, folder, round)
        kind, notes = worst(kind, found[0]), [*notes, *found[1:]]
        if plate is None:
            break
        scored = folder / f"round-{round}.csv"
        told.update(fill(plate, scored))
        for attempt in range(6):
            chance = 0.5 if attempt < 2 else 0.0
            tell = ("tell", str(run), str(scored))
            done, how = interrupter.command(run, *tell, chance=chance, longest=2.0, cwd=folder)
            kind = worst(kind, done.kind())
            if not how:
                break
        if done.code != 0:
            kind, notes = worst(kind, "other"), [*notes, f"tell: {done.said()}"]
    checked, note = told_check(run, told)
    kind, notes = worst(kind, checked), [*notes, *([note] if note else []), *interrupter.troubles]
    return _compared(ctx, "ask/tell", seed, kind, notes, results(run), expected)


def _asked(
    interrupter: Interrupter, config: Path, run: Path, folder: Path, round: int
) -> tuple[Path | None, list[str]]:
    """The plate of this round, asked for (again after an interruption) or found out with
    `status`; and [kind, notes...] of what went wrong on the way."""
    ctx, kind, notes = interrupter.ctx, "ok", []
    for attempt in range(8):
        target = config if round == 0 and not _has_checkpoint(run) else run
        chance = 0.5 if attempt < 2 else 0.0
        done, how = interrupter.command(
            run, "ask", str(target), chance=chance, longest=2.0, cwd=folder
        )
        kind = worst(kind, done.kind())
        if how:
            continue
        said = done.out.strip().splitlines()[-1] if done.out.strip() else ""
        if done.code == 0 and said.endswith(".csv"):
            return printed_plate(said, folder), [kind, *notes]
        if done.code == 0 and "out already" in said:
            status = ctx.commands.run("status", str(run), cwd=folder)
            out = [line for line in status.out.splitlines() if line.startswith("out in")]
            names = out[0].removeprefix("out in").replace(",", " ").split() if out else []
            if names and names[-1] != "-":
                return run / "ask" / names[-1], [kind, *notes]
        kind, notes = worst(kind, "other"), [*notes, f"ask: dead end: {done.said()}"]
        if _has_checkpoint(run):
            break
        shutil.rmtree(run, ignore_errors=True)  # nothing to lose: start again
    return None, [worst(kind, "other"), *notes, "no plate"]


def _has_checkpoint(run: Path) -> bool:
    checkpoints = run / "log" / "checkpoints.jsonl"
    return checkpoints.exists() and checkpoints.stat().st_size > 0


def _reference(ctx: Pass, rounds: int) -> list[dict]:
    """The results of the same rounds, uninterrupted."""
    key = f"asktell-{rounds}"
    if key not in ctx.cached:
        folder = ctx.dir("asktell-reference")
        config, run = external(folder / "lab.yaml", "lab"), folder / "lab"
        for round in range(rounds):
            asked = ctx.commands.run("ask", str(config if round == 0 else run), cwd=folder)
            plate = printed_plate(asked.out, folder)
            fill(plate, folder / f"round-{round}.csv")
            ctx.commands.run("tell", str(run), str(folder / f"round-{round}.csv"), cwd=folder)
        assert plate_rows(plate), "the reference asked nothing"
        ctx.cached[key] = results(run)
    return ctx.cached[key]
