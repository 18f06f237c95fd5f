"""Peak memory of `emb-opt tell` with a very large scores file.

    python -m benchmarks.tell_memory                  # 7,000,000 rows (about 100 MB)
    python -m benchmarks.tell_memory --rows 1000000

An ask/tell run (FAISS in process over 3,000 synthetic items; its first plate asks 12). Each
case writes a scores file of ROWS rows and runs `emb-opt tell RUN FILE` in a new process under
`/usr/bin/time -v`, on a fresh copy of the run:

    unknown    the plate's 12 rows scored, then rows of ids the run never asked (refused)
    partial    the same file with --partial (the 12 are told, the rest skipped)
    repeated   the 12 rows, then the same 12 again and again (told before: no problem)

The table shows the exit code, wall seconds, peak resident memory (MB) and the size of the
problems file the tell left in RUN/ask (MB).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import tempfile
from itertools import cycle, islice
from pathlib import Path

import yaml

CONFIG = {
    "source": {"backend": "faiss", "k": 5, "data": {"kind": "synthetic", "n": 3000, "dim": 16}},
    "score": {"external": True},
    "strategy": {"update": {"name": "guided", "batch": 12, "queries": 6, "initial": 12}},
    "start": {"random": 4, "seed": 1},
    "stop": {"iterations": 10},
    "output": {"dir": "run"},
}


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emb_opt", *args], cwd=cwd, capture_output=True, text=True
    )


def start_run(directory: Path) -> tuple[Path, list[str]]:
    """An ask/tell run with one plate out: its directory and the plate's ids."""
    (directory / "lab.yaml").write_text(yaml.safe_dump(CONFIG))
    done = command("ask", "lab.yaml", cwd=directory)
    if done.returncode:
        raise SystemExit(done.stderr)
    with open(done.stdout.strip()) as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    return directory / "run", ids


def write_scores(path: Path, ids: list[str], rows: int, case: str) -> None:
    """`rows` rows of `id,score`: the plate's ids scored, then the case's further rows."""
    scored = [f"{id},0.5\n" for id in ids]
    if case == "repeated":
        further = islice(cycle(scored), rows - len(ids))
    else:
        further = (f"{10_000_000 + i},0.5\n" for i in range(rows - len(ids)))
    with open(path, "w") as handle:
        handle.write("id,score\n")
        handle.writelines(scored)
        handle.writelines(further)


def measured_tell(run: Path, scores: Path, *extra: str) -> dict[str, float | int]:
    """Exit code, wall seconds and peak memory (MB) of one `tell`, and the problems file."""
    tell = [sys.executable, "-m", "emb_opt", "tell", str(run), str(scores), *extra]
    done = subprocess.run(
        ["/usr/bin/time", "-v", *tell],
        capture_output=True,
        text=True,
    )
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    assert peak is not None and wall is not None, done.stderr
    hours, minutes, seconds = (float(part or 0) for part in wall.groups())
    problems = sum(path.stat().st_size for path in (run / "ask").glob("problems-*.txt"))
    return {
        "exit": done.returncode,
        "seconds": hours * 3600 + minutes * 60 + seconds,
        "peak MB": int(peak.group(1)) / 1024,
        "problems MB": problems / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=7_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        run, ids = start_run(base)
        print(f"{args.rows:,} rows per file\n")
        print(f"{'case':<10} {'exit':>4} {'seconds':>8} {'peak MB':>8} {'problems MB':>12}")
        for case, extra in [("unknown", ()), ("partial", ("--partial",)), ("repeated", ())]:
            copy = base / f"run-{case}"
            shutil.copytree(run, copy)
            scores = base / f"{case}.csv"
            write_scores(scores, ids, args.rows, case)
            if case == "repeated":  # the 12 told once before
                command("tell", str(copy), str(_first_rows(scores, ids)), cwd=base)
            got = measured_tell(copy, scores, *extra)
            print(
                f"{case:<10} {got['exit']:>4} {got['seconds']:>8.1f} {got['peak MB']:>8.0f} "
                f"{got['problems MB']:>12.1f}"
            )
            scores.unlink()


def _first_rows(scores: Path, ids: list[str]) -> Path:
    """A file of the plate's rows alone, as `scores` holds them."""
    path = scores.with_name("first.csv")
    path.write_text("id,score\n" + "".join(f"{id},0.5\n" for id in ids))
    return path


if __name__ == "__main__":
    main()
