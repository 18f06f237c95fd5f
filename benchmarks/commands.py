"""What one `emb-opt` command costs as the collection grows: `--version`, `ask`, `tell`, `status`.

    python -m benchmarks.commands                       # 100,000 and 1,000,000 items
    python -m benchmarks.commands --sizes 200000 --repeats 5

Each size is an ask/tell run over `source.data` files (an .npy of n x 64 float32 and a .jsonl
of {"rand": U(0, 1)} per row, FAISS in process, filter rand < 0.9) with 60 random start items.
After the first `ask CONFIG` (which starts the run, timed apart), each repeat runs `ask RUN
--n 5`, `tell RUN PLATE` with those 5 scores (the iteration stays open, so no strategy step
runs) and `status RUN`, each in a new process as a user would (interpreter start included).
The table shows the median wall time of each command in seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

DIMENSION = 64


def make_files(directory: Path, n: int) -> Path:
    """The data files and config of an ask/tell run over `n` items; the config's path."""
    rng = np.random.default_rng(0)
    np.save(directory / "embeddings.npy", rng.standard_normal((n, DIMENSION), dtype=np.float32))
    with open(directory / "metadata.jsonl", "w") as handle:
        for value in rng.random(n):
            handle.write(json.dumps({"rand": float(value)}) + "\n")
    config = {
        "source": {
            "backend": "faiss",
            "k": 10,
            "filter": {"rand": {"$lt": 0.9}},
            "data": {
                "kind": "files",
                "embeddings": "embeddings.npy",
                "metadata": "metadata.jsonl",
            },
        },
        "score": {"external": True},
        "start": {"random": 60, "seed": 1},
        "stop": {"iterations": 100},
        "output": {"dir": "run"},
    }
    path = directory / "lab.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(*args: str, cwd: Path) -> tuple[float, str]:
    """Seconds `emb-opt ARGS...` took, and what it printed."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "emb_opt", *args], cwd=cwd, capture_output=True, text=True
    )
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"emb-opt {' '.join(args)} failed: {done.stderr.strip()}")
    return took, done.stdout.strip()


def scored(plate: Path) -> Path:
    """The plate with a score in each row."""
    with open(plate, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["score"] = str(int(row["id"]) % 97 / 97)
    filled = plate.with_name(plate.stem + "-scored.csv")
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return filled


def measure(n: int, repeats: int) -> dict[str, float]:
    """Median seconds of each command over a run of `n` items."""
    with tempfile.TemporaryDirectory(prefix="emb_opt_commands-") as folder:
        directory = Path(folder)
        config = make_files(directory, n)
        times: dict[str, list[float]] = {"--version": [], "ask": [], "tell": [], "status": []}
        first, _ = timed("ask", str(config), "--n", "5", cwd=directory)
        for _ in range(repeats):
            times["--version"].append(timed("--version", cwd=directory)[0])
            took, plate = timed("ask", "run", "--n", "5", cwd=directory)
            times["ask"].append(took)
            times["tell"].append(
                timed("tell", "run", str(scored(directory / plate)), cwd=directory)[0]
            )
            times["status"].append(timed("status", "run", cwd=directory)[0])
        return {"first ask": first, **{name: statistics.median(t) for name, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    columns = ["--version", "ask", "tell", "status", "first ask"]
    print(f"| items | {' | '.join(columns)} |")
    print(f"|---:|{'---:|' * len(columns)}")
    for n in args.sizes:
        row = measure(n, args.repeats)
        print(f"| {n:,} | {' | '.join(f'{row[c]:.2f}' for c in columns)} |", flush=True)


if __name__ == "__main__":
    main()
