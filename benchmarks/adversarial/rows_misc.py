"""The issue's last row: `--wait` values, filesystems without locks, a soft lock left by a
dead process on another host, binary and duplicate-key configs, SIGTERM during a stuck HTTP
call, and a plate of another run of the same config."""

from __future__ import annotations

import errno
import os
import signal
import time

from .context import Pass
from .harness import Case, refusal, worst
from .lab import (
    external,
    fill,
    printed_plate,
    results,
    same_results,
    write_config,
)
from .rows_lock import PAUSED, wait_for
from .rows_runs import _hanging_at

ROW = "misc"


def odds_and_ends(ctx: Pass) -> list[Case]:
    return [
        *_waits(ctx),
        _no_locks(ctx),
        _soft_lock_of_a_dead_host(ctx),
        *_configs(ctx),
        *(_sigterm_during_a_stuck_call(ctx, retries) for retries in (0, 3)),
        _plate_of_another_run(ctx),
    ]


def _waits(ctx: Pass) -> list[Case]:
    """`tell --wait W` while another tell holds the run: refused naming W, or (a number)
    waited for at most W seconds."""
    run, first, second = ctx.asked()
    fill(first, run.parent / "first.csv")
    fill(second, run.parent / "second.csv")
    pause = {"ADV_PAUSE_AT": f"checkpoints.jsonl:{run}"}
    holder = ctx.commands.start(
        "tell", str(run), str(run.parent / "first.csv"), env=pause, stdin=True
    )
    cases = []
    try:
        if not wait_for(holder, PAUSED, ctx.commands.timeout):
            return [Case(ROW, "--wait (holder)", "other", "the holding tell never paused")]
        for wait in ("-1", "nan", "soon"):
            done = ctx.commands.run(
                "tell", str(run), str(run.parent / "second.csv"), "--wait", wait
            )
            kind, note = refusal(done, wait)
            cases.append(Case(ROW, f"tell --wait {wait} while held", kind, note))
    finally:
        if holder.popen.stdin is not None:
            holder.popen.stdin.write(b"\n")
            holder.popen.stdin.flush()
        ctx.commands.wait(holder)
    return cases


def _no_locks(ctx: Pass) -> Case:
    """flock failing with ENOLCK (NFS without its lock daemon): one line naming the run."""
    run, plate, _ = ctx.asked()
    fill(plate, run.parent / "scored.csv")
    env = {"ADV_FLOCK_ERRNO": str(errno.ENOLCK)}
    done = ctx.commands.run("tell", str(run), str(run.parent / "scored.csv"), env=env)
    kind, note = refusal(done, str(run))
    return Case(ROW, "flock fails with ENOLCK", kind, note)


def _soft_lock_of_a_dead_host(ctx: Pass) -> Case:
    """A filesystem with no flock (ENOSYS) and the soft lock marker a process on another
    host left when it died: a clear refusal naming the run, never a wait for the dead."""
    run, plate, _ = ctx.asked()
    fill(plate, run.parent / "scored.csv")
    (run / ".emb-opt.lock").write_text("4194000\nlab-host-2\n")
    env = {"ADV_FLOCK_ERRNO": str(errno.ENOSYS)}
    done = ctx.commands.run("tell", str(run), str(run.parent / "scored.csv"), env=env)
    kind, note = refusal(done, str(run))
    return Case(ROW, "soft lock of a dead process on another host", kind, note)


def _configs(ctx: Pass) -> list[Case]:
    folder = ctx.dir("misc-configs")
    binary = folder / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200))
    done = ctx.commands.run("run", str(binary), "--quiet", cwd=folder)
    cases = [Case(ROW, "a binary config", *refusal(done, binary.name))]
    twice = write_config(folder / "twice.yaml", folder / "out")
    twice.write_text(twice.read_text() + "stop: {iterations: 1}\n")  # `stop` given twice
    done = ctx.commands.run("run", str(twice), "--quiet", cwd=folder)
    cases.append(Case(ROW, "duplicate YAML keys", *refusal(done, "stop")))
    return cases


def _sigterm_during_a_stuck_call(ctx: Pass, retries: int) -> Case:
    """SIGTERM while an HTTP call hangs (`retries` allowed): one line, no asyncio noise, no
    traceback; the run resumed (the service answering again) equals the uninterrupted one."""
    _, expected = ctx.straight()
    folder = ctx.dir(f"misc-sigterm-{retries}")
    name = f"SIGTERM during a stuck HTTP call, retries {retries}"
    with _hanging_at(ctx, 3, 60.0) as stuck:
        executor = {"kind": "http", "url": stuck.url, "timeout": 120, "retries": retries}
        config = write_config(folder / "run.yaml", folder / "out", executor=executor)
        run = ctx.commands.start("run", str(config), "--quiet", cwd=folder)
        bound = time.monotonic() + ctx.commands.timeout
        while stuck.requests < 3 and run.running() and time.monotonic() < bound:
            time.sleep(0.05)
        time.sleep(0.5)  # inside the stuck call
        if run.running():
            os.kill(run.pid, signal.SIGTERM)
        stopped = ctx.commands.wait(run, timeout=time.monotonic() - run.began + 30)
        again = ctx.commands.run("run", str(config), "--resume", "--quiet", cwd=folder)
    noise = "Task was destroyed" in stopped.err or "never retrieved" in stopped.err
    kind, note = "ok", f"stopped ({stopped.said()}), resumed, equal to uninterrupted"
    if stopped.kind():
        kind, note = stopped.kind() or "", f"SIGTERM: {stopped.said()}"
    elif noise or len(stopped.lines()) != 1:
        kind, note = "other", f"{len(stopped.lines())} line(s) on stderr: {stopped.err[-300:]}"
    if again.code != 0:
        kind, note = worst(kind, again.kind() or "other"), f"{note}; --resume: {again.said()}"
    elif differs := same_results(results(folder / "out"), expected):
        kind, note = worst(kind, "lost"), f"{note}; resumed: {differs}"
    return Case(ROW, name, kind, note)


def _plate_of_another_run(ctx: Pass) -> Case:
    """A plate of a second run of the same config told to the first: refused, nothing told."""
    run, _, _ = ctx.asked()
    folder = ctx.dir("misc-other-run")
    config = external(folder / "lab.yaml", "lab")
    asked = ctx.commands.run("ask", str(config), "--n", "6", cwd=folder)
    if asked.code != 0:
        return Case(ROW, "a plate of another run", "other", asked.said())
    fill(printed_plate(asked.out, folder), folder / "other-scored.csv")
    done = ctx.commands.run("tell", str(run), str(folder / "other-scored.csv"))
    if done.code == 0:
        return Case(ROW, "a plate of another run", "wrong", f"accepted: {done.said()}")
    return Case(ROW, "a plate of another run", *refusal(done, run.name))
