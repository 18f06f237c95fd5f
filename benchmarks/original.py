"""Run workloads with the ORIGINAL published `emb-opt==1.0.2`, for comparison.

    python -m benchmarks.original          # the default tutorial workload, and the exact tutorial

The original package is never imported here: it is installed into a throwaway venv outside
the repo (`~/.cache/emb_opt_bench/original-venv`, or `$EMB_OPT_ORIGINAL_VENV`), built once
with `python -m venv` + `pip install emb-opt==1.0.2 datasets faiss-cpu` (torch is not
needed: 1.0.2 imports only numpy, scipy, pydantic and httpx), and `_original_worker.py` runs
there as a subprocess: workload JSON on stdin, result JSON on stdout.

Workloads are dicts with the keys n, dim, queries, iterations, k, seed, lrs, filter, index
("hf" is the tutorial's HF Dataset + add_faiss_index; "faiss" the original FaissDataPlugin),
query_seed, datagen and recall_at; `_original_worker.py` documents them and the exact RNG
order. Data generation is the tutorial's per-item loop when n == 10000 and vectorised
(still seeded, different numbers) otherwise, so 1,000,000-vector workloads build in seconds.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_original_worker.py")
READY_MARKER = ".emb_opt_original_ready"
# The combination known to work (Python 3.11, PyPI, 2025); unpinned is the fallback.
PINNED = [
    "emb-opt==1.0.2",
    "datasets==5.2.0",
    "faiss-cpu==1.15.1",
    "numpy==2.4.6",
    "pydantic==2.14.3",
    "scipy==1.17.1",
]
UNPINNED = ["emb-opt==1.0.2", "datasets", "faiss-cpu"]
INSTALL_TIMEOUT = 1800
DEFAULT_TIMEOUT = 3600

_build_error: str | None = None


def venv_dir() -> Path:
    """Where the throwaway venv lives (outside the repo)."""
    override = os.environ.get("EMB_OPT_ORIGINAL_VENV")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "emb_opt_bench" / "original-venv"


def venv_python() -> Path:
    """The venv's interpreter."""
    return venv_dir() / "bin" / "python"


def is_ready() -> bool:
    """True when a completed build is on disk."""
    return (venv_dir() / READY_MARKER).is_file() and venv_python().exists()


def _run(cmd: list[str], timeout: float) -> None:
    """Run a build step; raise RuntimeError with the tail of its output on failure."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {' | '.join(tail)}")


def _install(target: Path) -> None:
    """Create the venv at `target` and install the original package into it."""
    if target.exists():
        shutil.rmtree(target)
    base = getattr(sys, "_base_executable", None) or sys.executable
    _run([base, "-m", "venv", str(target)], timeout=300)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    try:
        _run([*pip, *PINNED], timeout=INSTALL_TIMEOUT)
    except (RuntimeError, subprocess.TimeoutExpired):
        _run([*pip, *UNPINNED], timeout=INSTALL_TIMEOUT)
    check = "import emb_opt.runner, emb_opt.plugins.huggingface, datasets, faiss"
    _run([str(target / "bin" / "python"), "-c", check], timeout=300)
    (target / READY_MARKER).write_text(f"{' '.join(PINNED)}\n")


def ensure_venv(verbose: bool = True) -> bool:
    """Build the venv once (file-locked against concurrent builds); False if it cannot be."""
    global _build_error
    if is_ready():
        return True
    if _build_error is not None:
        return False
    target = venv_dir()
    began = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f"{target.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if is_ready():
                return True
            if verbose:
                print(f"building the emb-opt==1.0.2 venv at {target} ...", file=sys.stderr)
            _install(target)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        _build_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return False
    if verbose:
        took = time.perf_counter() - began
        print(f"built the original venv in {took:.0f} s", file=sys.stderr)
    return True


def original_available() -> bool:
    """True when the throwaway venv exists or can be built."""
    return ensure_venv()


def run_original(workload: dict, timeout: float = DEFAULT_TIMEOUT) -> dict | None:
    """Run `workload` with emb-opt==1.0.2; None (with a one-line reason printed) on failure."""
    if not ensure_venv():
        print(f"original emb-opt unavailable: cannot build its venv ({_build_error})")
        return None
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # the worker must import the original emb_opt, not ours
    try:
        done = subprocess.run(
            [str(venv_python()), str(WORKER)],
            input=json.dumps(workload),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=str(venv_dir()),
        )
    except subprocess.TimeoutExpired:
        print(f"original emb-opt run timed out after {timeout:.0f} s")
        return None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"original emb-opt run failed (exit {done.returncode}): {last}")
        return None
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print("original emb-opt run printed no JSON result")
        return None
    result["recall"] = {int(k): v for k, v in result["recall"].items()}
    return result


def summary(result: dict[str, Any]) -> str:
    """A few printable lines of a result (without the id list)."""
    lines = [f"  {key}: {result[key]}" for key in result if key not in ("results_ids", "workload")]
    return "\n".join(lines)


def main() -> None:
    """Print the seed tutorial workload's result, then the variant without reseeding."""
    began = time.perf_counter()
    if not original_available():
        print(f"original emb-opt unavailable: {_build_error}")
        return
    print(f"venv ready at {venv_dir()} ({time.perf_counter() - began:.1f} s)")
    for label, workload in [
        ("the seed tutorial (query_seed=40)", {}),
        ("start queries continuing the data stream (query_seed=None)", {"query_seed": None}),
    ]:
        result = run_original(workload)
        if result is not None:
            print(f"{label}:\n{summary(result)}")


if __name__ == "__main__":
    main()
