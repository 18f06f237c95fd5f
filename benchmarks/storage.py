"""What a long search costs besides its search: run directory size, memory, outputs, resume.

    python -m benchmarks.storage
    python -m benchmarks.storage --calls 1000 10000 --stall-iterations 100

Each row is one `python -m emb_opt run` in a fresh process on 100,000 x 64 float32 vectors
(standard normal, an `.npy` file) in FAISS (IndexFlatL2), k = 10, 10 start queries, the
built-in `target` objective (cheap). The first row is a config with no `strategy` block
and a budget of 2,000 score calls with 100,000 iterations allowed. The surrogate rows stop
at `max_score_calls` (or when the search stops finding new items: `idle` 5, the default).
The stall rows run
`topk_discrete` (k = 10), which settles on the best items it found and then proposes the
same queries forever, and `rl`, whose queries keep moving a little without finding anything
new, with `idle: null` for a fixed number of iterations.

Columns: run directory size; peak RSS of the run process (`wait4`); wall time; search
time (the sum of the iterations' times in the manifest); checkpoints and outputs (results,
plots, manifest), from the manifest's `timings` when the run writes them; the share of the
wall time they take; the bytes an idle iteration adds to the log (iterations that found no
new item); and the time `emb_opt.log.load_log` takes to read the run back (what `--resume` does
first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

N, DIMENSION, K, QUERIES = 100_000, 64, 10, 10
ROW_BYTES = {"vector32": 4 * DIMENSION, "vector": 8 * DIMENSION}


def write_corpus(directory: Path) -> Path:
    path = directory / "embeddings.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.standard_normal((N, DIMENSION), dtype=np.float32))
    return path


def config(embeddings: Path, output: Path, strategy: dict, stop: dict) -> dict[str, Any]:
    return {
        "source": {
            "backend": "faiss",
            "k": K,
            "data": {"kind": "files", "embeddings": str(embeddings)},
        },
        "score": {"function": "target"},
        **({"strategy": {"update": strategy}} if strategy else {}),
        "start": {"random": QUERIES, "seed": 1},
        "stop": stop,
        "output": {"dir": str(output)},
    }


def run(directory: Path, name: str, document: dict) -> dict[str, Any]:
    """Run one config in a fresh process; return what it cost."""
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    output = Path(document["output"]["dir"])
    command = [sys.executable, "-m", "emb_opt", "run", str(path), "--quiet"]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    stderr = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise RuntimeError(f"{name} failed ({status}): {stderr.strip()[-500:]}")
    manifest = json.loads((output / "manifest.json").read_text())
    timings = manifest.get("timings", {})
    checkpoints = timings.get("checkpoints", float("nan"))
    outputs = timings.get("outputs", float("nan"))
    return {
        "run": name,
        "score calls": manifest["counters"]["score_calls"],
        "iterations": manifest["counters"]["iterations"],
        "dir MB": directory_bytes(output) / 1e6,
        "RSS MB": usage.ru_maxrss / 1024,
        "wall s": wall,
        "search s": manifest["search_seconds"],
        "ckpt s": checkpoints,
        "outputs s": outputs,
        "outside %": 100 * (checkpoints + outputs) / wall,
        "idle B/it": idle_bytes(output),
        "load s": load_seconds(output),
    }


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def idle_bytes(output: Path) -> float:
    """Mean bytes an idle iteration (no new score call) added to the log: its checkpoint line
    plus the vector rows it appended (for a version 1 `log.json`: its line)."""
    lines = output / "log" / "checkpoints.jsonl"
    lines = lines if lines.exists() else output / "log.json"
    sizes, calls, rows = [], None, {}
    for text in lines.read_bytes().splitlines():
        line = json.loads(text)
        now, counts = line["counters"]["score_calls"], line.get("vectors", {})
        added = sum((n - rows.get(name, 0)) * ROW_BYTES[name] for name, n in counts.items())
        if calls is not None and now == calls and line.get("batches"):
            sizes.append(len(text) + 1 + added)
        calls, rows = now, counts
    return float(np.mean(sizes)) if sizes else float("nan")


def log_path(output: Path) -> Path:
    return output / "log" if (output / "log").exists() else output / "log.json"


def load_seconds(output: Path) -> float:
    code = (
        "import time, sys; from emb_opt.log import load_log; t = time.perf_counter(); "
        f"load_log({str(log_path(output))!r}); print(time.perf_counter() - t)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr.strip()[-500:])
    return float(result.stdout)


COLUMNS = {  # name: (width, format of a value)
    "run": (24, ""),
    "score calls": (11, ","),
    "iterations": (10, ","),
    "dir MB": (8, ".1f"),
    "RSS MB": (8, ".0f"),
    "wall s": (8, ".1f"),
    "search s": (8, ".1f"),
    "ckpt s": (7, ".2f"),
    "outputs s": (9, ".2f"),
    "outside %": (9, ".1f"),
    "idle B/it": (9, ".0f"),
    "load s": (7, ".2f"),
}


def print_row(row: dict[str, Any]) -> None:
    cells = [
        f"{row[name]:{'<' if not fmt else '>'}{width}{fmt}}"
        for name, (width, fmt) in COLUMNS.items()
    ]
    print("  ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--stall-iterations", type=int, default=300, help="0: no stall rows")
    parser.add_argument("--no-default", dest="default", action="store_false")
    args = parser.parse_args()
    runs = [("default, 2,000 budget", {}, {"iterations": 100_000, "max_score_calls": 2_000})]
    runs = runs if args.default else []
    runs += [
        (
            f"surrogate {calls:,}",
            {"name": "surrogate"},
            {"iterations": 100_000, "max_score_calls": calls},
        )
        for calls in args.calls
    ]
    runs += [
        (f"stall {name} {args.stall_iterations} it", {"name": name, **extra},
         {"iterations": args.stall_iterations, "idle": None})
        for name, extra in (("topk_discrete", {"k": QUERIES}), ("rl", {"lrs": [0.5]}))
        if args.stall_iterations
    ]  # fmt: skip
    print(
        "  ".join(
            f"{name:{'<' if not fmt else '>'}{width}}" for name, (width, fmt) in COLUMNS.items()
        )
    )
    with tempfile.TemporaryDirectory(prefix="emb-opt-storage-") as scratch:
        directory = Path(scratch)
        embeddings = write_corpus(directory)
        for number, (name, strategy, stop) in enumerate(runs):
            output = directory / f"run-{number}"
            row = run(directory, f"run-{number}", config(embeddings, output, strategy, stop))
            print_row({**row, "run": name})


if __name__ == "__main__":
    main()
