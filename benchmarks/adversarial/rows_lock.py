"""Rows of the run directory's lock and of runs killed before their first checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

from .context import Pass
from .harness import Case, Done, Started, worst
from .lab import external, fill, plate_rows, printed_plate, results, same_results, told_check

LOCK_FILES = (".emb-opt.lock", ".emb-opt.lock.json")
PAUSED = "adv_child: paused"


def wait_for(started: Started, text: str, seconds: float) -> bool:
    """Whether `started` said `text` on stderr within `seconds` (False once it ended)."""
    bound = time.monotonic() + seconds
    while time.monotonic() < bound:
        if text in started.stderr_now():
            return True
        if not started.running():
            return text in started.stderr_now()
        time.sleep(0.05)
    return False


def lock_removed_mid_tell(ctx: Pass) -> list[Case]:
    """A tell paused just before it appends its checkpoint, its lock files removed (a "stale
    lock" clean-up), a second tell of the other plate; then both go on. Every answer told
    must be in the results once, and the run readable."""
    tellers = []
    for _ in range(5 if ctx.quick else 20):
        run, first, second = ctx.asked()
        told = [fill(plate, _scored(run, plate)) for plate in (first, second)]
        tellers.append((run, told, _two_tellers(ctx, run, first, second)))
    statuses = ctx.commands.run_many([["status", str(run)] for run, _, _ in tellers])
    cases = []
    for rep, ((run, told, dones), status) in enumerate(zip(tellers, statuses)):
        said = {
            id: s for done, scores in zip(dones, told) if done.code == 0 for id, s in scores.items()
        }
        kind, note = told_check(run, said)
        if dones[0].code is not None and dones[0].code != 0 and not dones[0].kind():
            kind, note = worst(kind, "other"), f"the first tell failed: {dones[0].said()}"
        elif dones[1].code != 0 and not dones[1].kind():
            kind, note = worst(kind, "other"), f"the second tell failed: {dones[1].said()}"
        if status.code != 0 and not status.kind():
            kind, note = "lost", f"the run is unreadable: {status.said()}"
        troubles = [done.trouble() for done in [*dones, status] if done.kind()]
        kind = worst(kind, *(done.kind() for done in [*dones, status]))
        note = "; ".join([note or "both told, each score once", *troubles])
        cases.append(Case("lock", f"rep {rep + 1}", kind, note))
    return cases


def _scored(run: Path, plate: Path) -> Path:
    """Where a person keeps the scored copy of `plate` of `run` (beside the run)."""
    return run.parent / f"{run.name}-{plate.stem}-scored.csv"


def _two_tellers(ctx: Pass, run: Path, first: Path, second: Path) -> list[Done]:
    """Tell `first` paused just before its checkpoint, remove the lock files, tell `second`,
    let the first go on: both commands' ends."""
    scored = [_scored(run, plate) for plate in (first, second)]
    pause = {"ADV_PAUSE_AT": f"checkpoints.jsonl:{run}"}
    holder = ctx.commands.start("tell", str(run), str(scored[0]), env=pause, stdin=True)
    if not wait_for(holder, PAUSED, ctx.commands.timeout):
        return [ctx.commands.wait(holder), ctx.commands.run("tell", str(run), str(scored[1]))]
    for name in LOCK_FILES:
        (run / name).unlink(missing_ok=True)
    second_teller = ctx.commands.start("tell", str(run), str(scored[1]), "--wait", "120")
    wait_for(second_teller, "waiting for", 20)  # it waits (or it has told, or failed)
    assert holder.popen.stdin is not None
    holder.popen.stdin.write(b"\n")
    holder.popen.stdin.flush()
    return [ctx.commands.wait(holder), ctx.commands.wait(second_teller)]


def killed_before_first_checkpoint(ctx: Pass) -> list[Case]:
    """`ask CONFIG` and `run` killed at each change they make to their directory before its
    first checkpoint: the same command must start the run again (the same plate, the same
    results), and `status` must either work or name the command that goes on."""
    return _killed_asks(ctx) + _killed_runs(ctx)


def _kill_points(ctx: Pass, run: Path, *args: str, cwd: Path):
    """Kill `args` at its 1st, 2nd, ... change in `run`; yield each point reached before a
    checkpoint exists (in --quick, every other one)."""
    point = 0
    while point < 60:
        point += 1
        _remove(run)
        done = ctx.commands.run(*args, cwd=cwd, env={"ADV_DIE_AT": f"{point}:{run}"})
        checkpoints = run / "log" / "checkpoints.jsonl"
        if done.code != 137 or (checkpoints.exists() and checkpoints.stat().st_size):
            return
        if ctx.quick and point % 2 == 0:
            continue
        yield point


def _killed_asks(ctx: Pass) -> list[Case]:
    folder = ctx.dir("fresh-ask")
    config = external(folder / "lab.yaml", "lab")
    run = folder / "lab"
    done = ctx.commands.run("ask", str(config), cwd=folder)
    plate = [row["id"] for row in plate_rows(printed_plate(done.out, folder))]
    cases = []
    for point in _kill_points(ctx, run, "ask", str(config), cwd=folder):
        status = ctx.commands.run("status", str(run), cwd=folder)
        again = ctx.commands.run("ask", str(config), cwd=folder)
        kind, note = "ok", "the same ask started it again, the same plate"
        if again.kind() or again.code != 0:
            kind, note = again.kind() or "other", f"ask CONFIG again: {again.said()}"
        elif [row["id"] for row in plate_rows(printed_plate(again.out, folder))] != plate:
            kind, note = "wrong", "ask CONFIG again handed out another plate"
        if status.code != 0 and "emb-opt ask" not in status.err:
            kind, note = worst(kind, "other"), f"{note}; status: {status.said()}"
        cases.append(
            Case("fresh", f"ask killed at change {point}", worst(kind, status.kind()), note)
        )
    return cases


def _killed_runs(ctx: Pass) -> list[Case]:
    config, expected = ctx.straight()
    folder = ctx.dir("fresh-run")
    run = folder / "out"
    cases = []
    args = ("run", str(config), "--output", str(run), "--quiet")
    for point in _kill_points(ctx, run, *args, cwd=folder):
        again = ctx.commands.run(*args, cwd=folder)
        kind, note = "ok", "the same run started it again, the same results"
        if again.kind() or again.code != 0:
            kind, note = again.kind() or "other", f"run again: {again.said()}"
        elif differs := same_results(results(run), expected):
            kind, note = "wrong", f"run again: {differs}"
        cases.append(Case("fresh", f"run killed at change {point}", kind, note))
    return cases


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
