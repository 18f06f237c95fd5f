"""Rows of `emb-opt run`: an executor block changed on resume, worker processes of a killed
run, and readers of a run that writes."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from .context import Pass
from .harness import Case, Done, refusal, worst
from .lab import SOURCE, external, fill, printed_plate, results, same_results, write_config

SERVICE_TIMEOUT = {"timeout": 1, "retries": 0}


def _hanging_at(ctx: Pass, request: int, seconds: float) -> Any:
    """A scoring service whose `request`th request hangs `seconds` (later ones answer)."""
    service = ctx.service()

    class HangingAt(service.ScoringServer):
        def next_fault(self) -> str | None:
            fault = super().next_fault()
            return "hang" if self.requests == request else fault

    return HangingAt(service.default_functions(), faults=service.Faults(hang_seconds=seconds))


def executor_changes(ctx: Pass) -> list[Case]:
    """A run stopped by `executor.timeout` (its 3rd call hangs), resumed with a longer
    timeout, at another service, with other retries and headers: each must go on and equal
    the uninterrupted run. An ask/tell run's `ask CONFIG` with a changed executor block must
    go on; a changed score function must still be refused."""
    _, expected = ctx.straight()
    service = ctx.service()
    cases = []
    changes = {
        "longer timeout": lambda url, other: {"url": url, "timeout": 60, "retries": 0},
        "another service URL": lambda url, other: {"url": other, "timeout": 60, "retries": 0},
        "retries and headers": lambda url, other: {
            "url": url,
            "timeout": 60,
            "retries": 2,
            "headers": {"X-Trace": "adversarial"},
        },
    }
    for name, change in changes.items():
        folder = ctx.dir(f"executor-{len(cases)}")
        with (
            _hanging_at(ctx, 3, 4.0) as stuck,
            service.ScoringServer(service.default_functions()) as other,
        ):
            short = {"kind": "http", "url": stuck.url, **SERVICE_TIMEOUT}
            config = write_config(folder / "run.yaml", folder / "out", executor=short)
            first = ctx.commands.run("run", str(config), "--quiet", cwd=folder)
            write_config(
                config, folder / "out", executor={"kind": "http", **change(stuck.url, other.url)}
            )
            again = ctx.commands.run("run", str(config), "--resume", "--quiet", cwd=folder)
        kind, note = "ok", f"stopped ({first.said()}), resumed, equal to uninterrupted"
        if first.code == 0:
            kind, note = "other", "the call that hung did not stop the run"
        elif again.code != 0:
            kind, note = again.kind() or "other", f"--resume refused: {again.said()}"
        elif differs := same_results(results(folder / "out"), expected):
            kind, note = "wrong", f"resumed: {differs}"
        cases.append(Case("executor", f"resume, {name}", worst(kind, first.kind()), note))
    cases.append(_ask_with_another_executor(ctx))
    cases.append(_another_score_function(ctx))
    return cases


def _ask_with_another_executor(ctx: Pass) -> Case:
    folder = ctx.dir("executor-ask")
    threads = {"kind": "thread", "concurrency": 2, "timeout": 5}
    config = external(folder / "lab.yaml", "lab", executor=threads)
    asked = ctx.commands.run("ask", str(config), cwd=folder)
    if asked.code != 0:
        return Case("executor", "ask CONFIG, executor changed", "other", asked.said())
    fill(printed_plate(asked.out, folder), folder / "scored.csv")
    told = ctx.commands.run("tell", str(folder / "lab"), str(folder / "scored.csv"), cwd=folder)
    external(config, "lab", executor={**threads, "concurrency": 4, "timeout": 50})
    again = ctx.commands.run("ask", str(config), cwd=folder)
    kind, note = "ok", "ask CONFIG went on with the changed executor block"
    if told.code != 0:
        kind, note = "other", f"tell: {told.said()}"
    elif again.code != 0:
        kind, note = "other", f"ask CONFIG again: {again.said()}"
    return Case("executor", "ask CONFIG, executor changed", worst(kind, again.kind()), note)


def _another_score_function(ctx: Pass) -> Case:
    folder = ctx.dir("executor-score")
    first = write_config(folder / "run.yaml", folder / "out", stop={"iterations": 2, "idle": None})
    done = ctx.commands.run("run", str(first), "--quiet", cwd=folder)
    renamed = write_config(first, folder / "out", score={"function": "adv_scores:slow"})
    again = ctx.commands.run("run", str(renamed), "--resume", "--quiet", cwd=folder)
    kind, note = refusal(again, "score.function")
    return Case("executor", "resume, score function changed", worst(kind, done.kind()), note)


def killed_workers(ctx: Pass) -> list[Case]:
    """`kill -9` of a run whose process-executor workers spin (or sleep) in a score call:
    no process of its group may outlive it by more than 30 s (survivors are killed by PID)."""
    cases = []
    for method, score in [
        ("forkserver", "spin"),
        ("spawn", "spin"),
        ("fork", "spin"),
        ("forkserver", "sleep"),
    ]:
        folder = ctx.dir(f"workers-{method}-{score}")
        executor = {"kind": "process", "start_method": method, "concurrency": 2, "timeout": 600}
        config = write_config(
            folder / "run.yaml",
            folder / "out",
            score={"function": f"adv_scores:{score}"},
            executor=executor,
        )
        marker = folder / "scoring"
        run = ctx.commands.start("run", str(config), "--quiet", env={"ADV_SPIN": str(marker)})
        bound = time.monotonic() + ctx.commands.timeout
        while not marker.exists() and run.running() and time.monotonic() < bound:
            time.sleep(0.05)
        if not marker.exists():
            done = ctx.commands.wait(run)
            cases.append(Case("workers", f"{method}, {score}", "other", f"no call: {done.said()}"))
            continue
        os.kill(run.pid, signal.SIGKILL)
        done = ctx.commands.wait(run, grace=30)
        kind = "hang" if done.left else "ok"
        note = f"{done.left} process(es) outlived the run by 30 s" if done.left else "none left"
        cases.append(Case("workers", f"{method}, {score}", kind, note))
    return cases


def read_while_writing(ctx: Pass) -> list[Case]:
    """`RunDirectory.read_log` after each new checkpoint of a run that keeps writing (as fast
    as it can), and `emb-opt plot` meanwhile, both slow readers (`adv_child.slow_states`):
    none may report corruption (each read and plot a case)."""
    reads, plots = (20, 2) if ctx.quick else (40, 3)
    folder = ctx.dir("reading")
    source = {**SOURCE, "data": {**SOURCE["data"], "n": 30_000}}
    config = write_config(
        folder / "run.yaml", folder / "out", source=source, stop={"iterations": 2000, "idle": None}
    )
    run = ctx.commands.start("run", str(config), "--quiet")
    cases: list[Case] = []
    try:
        checkpoints = folder / "out" / "log" / "checkpoints.jsonl"
        bound = time.monotonic() + ctx.commands.timeout
        while not checkpoints.exists() and run.running() and time.monotonic() < bound:
            time.sleep(0.05)
        reader = ctx.commands.start(str(folder / "out"), str(reads), module="adv_reader")
        slow = {"ADV_SLOW_STATES": str(folder / "out" / "log")}
        plotted = [ctx.commands.run("plot", str(folder / "out"), env=slow) for _ in range(plots)]
        read = ctx.commands.wait(reader)
    finally:
        os.kill(run.pid, signal.SIGKILL)
        ctx.commands.wait(run)
    for number, line in enumerate(read.out.splitlines()):
        said = json.loads(line)
        kind = "ok" if said.get("ok") else "other"
        note = said.get("error", "read whole")
        cases.append(Case("reading", f"read_log {number + 1}", kind, note))
    if len(cases) < reads:
        note = f"the reader ended after {len(cases)} reads: {read.said()}"
        cases.append(Case("reading", "reader", read.kind() or "other", note))
    for number, done in enumerate(plotted):
        cases.append(_plot_case(number, done))
    return cases


def _plot_case(number: int, done: Done) -> Case:
    kind = done.kind() or ("ok" if done.code == 0 else "other")
    return Case("reading", f"plot {number + 1}", kind, "plotted" if kind == "ok" else done.said())
