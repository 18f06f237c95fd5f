"""Worker processes of the process executor end with the run: `kill -9` of `emb-opt run`
leaves no worker spinning past its deadline, and no forkserver or resource tracker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from run_processes import start_run


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of process `pid`: pid -> its start time (to tell a reused pid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    found: dict[int, str] = {}
    waiting = list(children.get(pid, []))
    while waiting:
        child = waiting.pop()
        if stat := _stat(child):
            found[child] = stat[19]
            waiting.extend(children.get(child, []))
    return found


def alive(pid: int, started: str) -> bool:
    """Process `pid`, started at `started`, still exists and is no zombie."""
    stat = _stat(pid)
    return stat is not None and stat[19] == started and stat[0] != "Z"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


@pytest.mark.slow  # starts a run and its worker processes
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(
    ("start_method", "score"),
    [("forkserver", "spin"), ("spawn", "spin_holding_the_gil")],
    ids=["forkserver-python-spin", "spawn-C-spin"],
)
def test_kill_9_of_a_run_leaves_no_worker_behind(
    write_config, tmp_path, monkeypatch, start_method, score
):
    spinning = tmp_path / "spinning"
    monkeypatch.setenv("EMB_OPT_TEST_SPIN", str(spinning))
    executor = {"kind": "process", "start_method": start_method, "concurrency": 2}
    config = write_config(score={"function": f"slow_objective:{score}"}, executor=executor)
    process = start_run(config, tmp_path / "out")
    try:
        deadline = time.monotonic() + 120
        while not spinning.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spinning.exists(), f"no score call started (exit code {process.poll()})"
        left = descendants(process.pid)
        assert len(left) >= 2, left  # at least a worker and the resource tracker
    finally:
        process.kill()  # -9; a survivor would hold its stderr open: only wait for the exit
        process.wait()
        process.stderr.close()
    try:
        bound = time.monotonic() + 60  # generous: a correctness bound, not a speed claim
        while time.monotonic() < bound and any(alive(p, s) for p, s in left.items()):
            time.sleep(0.1)
        survivors = {p for p, s in left.items() if alive(p, s)}
        assert not survivors, [Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in survivors]
    finally:
        for pid, started in left.items():
            if alive(pid, started):
                os.kill(pid, signal.SIGKILL)
