"""Running `emb-opt run` in a subprocess, and reading what a run wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def start_command(
    *args: str,
    module: str = "emb_opt",
    cwd: Path | None = None,
    stdout: int | None = subprocess.PIPE,
    preexec_fn: Callable[[], None] | None = None,
    stdin: int | None = None,
) -> subprocess.Popen:
    """`emb-opt ARGS...` (or `python -m MODULE ARGS...`) in a subprocess (in `cwd`, if given;
    calling `preexec_fn` first, e.g. to set a limit) that can import the modules beside this
    file; stderr is piped, and stdout unless `stdout` says otherwise (stdin if `stdin`)."""
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def prepare() -> None:
        # a test run started in the background (`cmd &`) ignores SIGINT, and so would the
        # command: Python then installs no KeyboardInterrupt handler
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if preexec_fn is not None:
            preexec_fn()

    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        preexec_fn=prepare,
        text=True,
    )


def start_run(
    config: Path,
    output: Path,
    *extra: str,
    cwd: Path | None = None,
    stdout: int | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen:
    """`emb-opt run CONFIG --output OUTPUT --quiet ...` in a subprocess (`start_command`;
    stdout is piped only with `stdout=PIPE`)."""
    return start_command(
        "run",
        str(config),
        "--output",
        str(output),
        "--quiet",
        *extra,
        cwd=cwd,
        stdout=stdout,
        preexec_fn=preexec_fn,
    )


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    """Wait for the command (killed if it outlasts `timeout`); its exit code and stderr."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return process.returncode, stderr


def results(output: Path) -> list[tuple]:
    """(id, score, iteration) of every line of the run's results.jsonl."""
    rows = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
    return [(r["id"], r["score"], r["iteration"]) for r in rows]


def assert_same_results(got: list[tuple], expected: list[tuple], rel: float = 1e-12) -> None:
    """The same ids and iterations in the same order, and scores equal to `rel`: a score
    stored by another machine may differ from this machine's in the last bit."""
    assert [(i, it) for i, _, it in got] == [(i, it) for i, _, it in expected]
    assert [s for _, s, _ in got] == pytest.approx([s for _, s, _ in expected], rel=rel, abs=0)
