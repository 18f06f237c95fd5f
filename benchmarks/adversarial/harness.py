"""The machinery of the adversarial pass: `emb-opt` commands in process groups of their own
(stopped by PID on every path), what each case found, and how it is classified."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHILD = Path(__file__).parent / "child"  # the wrapper and score modules the commands import
KINDS = ("ok", "lost", "wrong", "traceback", "hang", "other")
SEVERITY = {"ok": 0, "other": 1, "traceback": 2, "hang": 3, "wrong": 4, "lost": 5}
TRACEBACK = "Traceback (most recent call last)"
CHATTER = ("emb-opt: waiting for", "emb-opt: warning:")  # lines beside an error, not one


@dataclass
class Case:
    """One hostile input and what it found: a kind of `KINDS` and a note saying why."""

    row: str
    name: str
    kind: str
    note: str = ""


def worst(*kinds: str | None) -> str:
    """The most severe of `kinds` (None counts as ok)."""
    return max((kind or "ok" for kind in kinds), key=SEVERITY.__getitem__)


@dataclass
class Done:
    """A finished command: exit code (None: it hung and was killed), output, peak memory,
    and how many processes of its group outlived it (killed by PID)."""

    args: list[str]
    code: int | None
    out: str
    err: str
    peak_mb: float
    left: int = 0

    def kind(self) -> str | None:
        """'hang', 'traceback' or None (neither)."""
        if self.code is None or self.left:
            return "hang"
        return "traceback" if TRACEBACK in self.err else None

    def lines(self) -> list[str]:
        """Its stderr lines, but a waiting command's, a warning's and argparse's usage."""
        kept, usage = [], False
        for line in self.err.splitlines():
            usage = line.startswith("usage:") or (usage and line.startswith(" "))
            if line.strip() and not usage and not line.startswith(CHATTER):
                kept.append(line)
        return kept

    def trouble(self) -> str:
        """What its `kind` says: how it hung, or the last line of its traceback."""
        if self.code is None:
            return f"did not end (killed with its group); it said: {self.said()}"
        if self.left:
            return f"{self.left} process(es) of its group outlived it (killed)"
        return f"traceback: {self.err.strip().splitlines()[-1][:300]}"

    def said(self) -> str:
        """What it said last on stderr (for a note), else on stdout, else its exit code."""
        lines = self.lines() or self.out.strip().splitlines()
        return lines[-1][:300] if lines else f"exit {self.code}, nothing said"


@dataclass
class Started:
    """A command running in its own process group (its PID is the group's)."""

    popen: subprocess.Popen
    args: list[str]
    out: Path
    err: Path
    began: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        """Whether it has not ended yet (it is not reaped: `Commands.wait` does that)."""
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def stderr_now(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""


class Commands:
    """Starts `emb-opt` (through `adv_child`) with the emb_opt of `code` (None: the one this
    Python imports), in `work`; a command outlasting `timeout` seconds is a hang, killed by
    its process group. Every process it started is stopped by `stop_all`."""

    def __init__(self, code: Path | None, work: Path, timeout: float, memory_gb: float) -> None:
        self.code, self.work, self.timeout = code, work, timeout
        self.memory = int(memory_gb * 2**30)
        self.running: dict[int, Started] = {}
        self.count = 0

    def env(self, **extra: str) -> dict[str, str]:
        path = [str(self.code)] if self.code else []
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(CHILD)]), **extra}
        env.pop("PYTHONSTARTUP", None)
        return env

    def start(
        self,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: bool = False,
        module: str = "adv_child",
        memory_gb: float | None = None,
    ) -> Started:
        """`python -m MODULE ARGS` (`adv_child`: an emb-opt command), stdout and stderr to
        files, its address space bounded (`memory_gb`, else the pass's bound)."""
        self.count += 1
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        out, err = logs / f"{self.count}.out", logs / f"{self.count}.err"
        argv = [sys.executable, "-m", module, *args]
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            popen = subprocess.Popen(
                argv,
                cwd=cwd or self.work,
                env=self.env(**(env or {})),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=_limit(int(memory_gb * 2**30) if memory_gb else self.memory),
            )
        started = Started(popen, list(args), out, err)
        self.running[popen.pid] = started
        return started

    def wait(self, started: Started, timeout: float | None = None, grace: float = 3.0) -> Done:
        """Wait for the command (killed with its group after `timeout`: a hang); processes of
        its group alive `grace` seconds after it ended are killed by PID and counted."""
        deadline = started.began + (timeout or self.timeout)
        hung = False
        while True:
            pid, status, usage = os.wait4(started.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                _kill_group(started.pid)
                pid, status, usage = os.wait4(started.pid, 0)
                hung = True
                break
            time.sleep(0.05)
        started.popen.returncode = os.waitstatus_to_exitcode(status)
        if started.popen.stdin is not None:
            started.popen.stdin.close()
        left = stop_group(started.pid, grace)
        self.running.pop(started.pid, None)
        return Done(
            started.args,
            None if hung else started.popen.returncode,
            started.out.read_text(errors="replace"),
            started.stderr_now(),
            usage.ru_maxrss / 1024,
            len(left),
        )

    def run(self, *args: str, timeout: float | None = None, **options) -> Done:
        return self.wait(self.start(*args, **options), timeout)

    def run_many(self, commands: list[list[str]], **options) -> list[Done]:
        """Several commands in one process (`adv_many`: the imports paid once), each its
        `Done`; those it never reached share the process's end (a hang, a crash)."""
        joined = [arg for args in commands for arg in (":::", *args)][1:]
        done = self.run(*joined, module="adv_many", **options)
        found = [json.loads(line) for line in done.out.splitlines() if line.startswith("{")]
        dones = [
            Done(args, said["code"], said["out"], said["err"], done.peak_mb)
            for args, said in zip(commands, found)
        ]
        ended = Done([], done.code if done.code else None, "", done.err, done.peak_mb, done.left)
        return dones + [ended] * (len(commands) - len(dones))

    def stop_all(self) -> None:
        """Kill every command still running, with its group, and reap it."""
        for pid in list(self.running):
            _kill_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            stop_group(pid, 0)
            self.running.pop(pid, None)


def _limit(size: int) -> Callable[[], None]:
    """Bound a command's address space to `size` bytes: a runaway one fails, the machine
    stays up."""
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (size, size))


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def group_members(pgid: int) -> dict[int, str]:
    """Live (not zombie) processes of process group `pgid`: pid -> start time."""
    found = {}
    for entry in Path("/proc").iterdir():
        stat = proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and int(stat[2]) == pgid and stat[0] != "Z":
            found[int(entry.name)] = stat[19]
    return found


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def stop_group(pgid: int, grace: float) -> dict[int, str]:
    """The members of group `pgid` still alive after `grace` seconds, each then killed by PID."""
    bound = time.monotonic() + grace
    left = group_members(pgid)
    while left and time.monotonic() < bound:
        time.sleep(0.1)
        left = group_members(pgid)
    for pid, started in left.items():
        stat = proc_stat(pid)
        if stat is not None and stat[19] == started:
            os.kill(pid, signal.SIGKILL)
    return left


def refusal(done: Done, *names: str) -> tuple[str, str]:
    """A command that should refuse: ok when it failed with one line naming every one of
    `names`; else hang or traceback, `wrong` if it succeeded, `other` if its error is unclear."""
    kind = done.kind()
    if kind:
        return kind, done.trouble()
    if done.code == 0:
        return "wrong", f"accepted: {done.said()}"
    lines = done.lines()
    missing = [name for name in names if not any(name in line for line in lines)]
    if len(lines) != 1 or missing:
        return "other", f"{len(lines)} line(s), naming not {missing}: {done.said()}"
    return "ok", lines[0][:200]
