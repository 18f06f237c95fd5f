"""Running `emb-opt run` in a subprocess, and reading what a run wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def start_command(*args: str, module: str = "emb_opt") -> subprocess.Popen:
    """`emb-opt ARGS...` (or `python -m MODULE ARGS...`) in a subprocess that can import the
    modules beside this file; stdout and stderr are piped."""
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_run(config: Path, output: Path, *extra: str) -> subprocess.Popen:
    """`emb-opt run CONFIG --output OUTPUT --quiet ...` in a subprocess (`start_command`)."""
    return start_command("run", str(config), "--output", str(output), "--quiet", *extra)


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
