"""A lab campaign played against the CLI, as a team plays it.

    python -m benchmarks.campaign --backend faiss --n 1000000
    python -m benchmarks.campaign --backend pgvector --n 1000000

`--chemists` people (6) each ask for a plate of `--wells` (96) at the same moment, score it
and tell it, for `--rounds` rounds (10), each command a fresh `python -m emb_opt` process,
on a collection of `--n` standard-normal vectors of `--dim` (32) dimensions: an `.npy` file
in FAISS, or the same vectors loaded once into an embedded PostgreSQL + pgvector (`path:`).
The strategy is the default guided one with a round of chemists x wells. On the way:

- round 2: one well fails (told with a reason);
- round 3: one plate comes back as a real Excel workbook, one as Excel's "CSV UTF-8" with a
  byte order mark, `;` between fields and decimal commas;
- round 4: one plate is late: the round goes on without it (`tell --proceed --yes`), and
  it is told in round 6;
- round 5: one `tell` is killed with SIGKILL mid-way and run again;
- every round: someone runs `status`, and a second Unix account (as root: a user made for
  it) reads the plates, the results and the manifest.

It prints the p50 / p95 / max seconds of each command (a command's whole time, waiting for
the run directory's lock included) and checks that every score told is in results.jsonl
exactly once, each failed well with its reason.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from emb_opt.objectives import target_distance_score
from emb_opt.synthetic import random_corpus

READER = "emb-opt-reader"  # the second Unix account that reads the run
FAILED_ROUND, EXCEL_ROUND, LATE_ROUND, TOLD_LATE_ROUND, KILL_ROUND = 1, 2, 3, 5, 4
WAIT = "3600"  # seconds a command waits for the lock at most: this measures, it never gives up


class Campaign:
    """One run directory and the people working on it."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.run = workdir / "run"
        self.times: dict[str, list[float]] = defaultdict(list)
        self.told: dict[str, float | str] = {}  # id -> score, or the reason it failed
        self.lock = threading.Lock()
        corpus = random_corpus(args.n, args.dim, seed=0)
        self.embeddings = corpus.embeddings
        self.config = self._config(corpus)
        self.reader = _reader_account()
        (workdir / "plates").mkdir()

    def _config(self, corpus: Any) -> Path:
        args = self.args
        if args.backend == "faiss":
            np.save(self.workdir / "embeddings.npy", corpus.embeddings)
            source: dict[str, Any] = {
                "backend": "faiss",
                "data": {"kind": "files", "embeddings": "embeddings.npy"},
            }
        else:
            source = {
                "backend": "pgvector",
                "path": "pgdata",
                "collection": "campaign",
                "data": {"kind": "synthetic", "n": args.n, "dim": args.dim, "seed": 0},
            }
        round_size = args.chemists * args.wells
        config = {
            "source": {**source, "k": 10},
            "score": {"external": True},
            "strategy": {"update": {"name": "guided", "batch": round_size, "initial": round_size}},
            "start": {"random": 10, "seed": 1},
            "stop": {"iterations": args.rounds, "idle": None},
            "output": {"dir": "run"},
            "seed": 0,
        }
        path = self.workdir / "campaign.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def command(self, name: str, *args: str) -> str:
        """Run `emb-opt NAME ARGS` in a fresh process; its output (it must succeed)."""
        return self._timed(name, [sys.executable, "-m", "emb_opt", name, *args])

    def read_as_teammate(self) -> None:
        """The plates, results and manifest read by the second account (`cat`: its Python
        may not reach this one's)."""
        files = [*sorted((self.run / "ask").iterdir()), self.run / "results.jsonl"]
        argv = ["cat", *map(str, files), str(self.run / "manifest.json")]
        if self.reader:
            argv = ["runuser", "-u", READER, "--", *argv]
        self._timed("read by a second account" if self.reader else "read", argv)

    def _timed(self, name: str, argv: list[str]) -> str:
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.workdir)
        took = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
        with self.lock:
            self.times[name].append(took)
        return done.stdout.strip()

    def ask(self, first: bool) -> Path:
        target = self.config if first else self.run
        said = self.command("ask", str(target), "--n", str(self.args.wells), "--wait", WAIT)
        return Path(said)

    def score(self, plate: Path) -> list[dict[str, Any]]:
        """The plate's rows with the scores the assay gives."""
        with open(plate, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        scores = target_distance_score(self.embeddings[[int(row["id"]) for row in rows]])
        return [{"id": row["id"], "score": float(s)} for row, s in zip(rows, scores)]

    def tell(self, rows: list[dict[str, Any]], path: Path, style: str = "csv") -> None:
        write_plate(rows, path, style)
        self.command("tell", str(self.run), str(path), "--wait", WAIT)
        self.remember(rows)

    def remember(self, rows: list[dict[str, Any]]) -> None:
        with self.lock:
            for row in rows:
                self.told[row["id"]] = row.get("reason") or row["score"]

    def killed_tell(self, rows: list[dict[str, Any]], path: Path) -> None:
        """A tell killed with SIGKILL after a moment, then run again."""
        write_plate(rows, path, "csv")
        argv = [sys.executable, "-m", "emb_opt", "tell", str(self.run), str(path), "--wait", WAIT]
        process = subprocess.Popen(argv, cwd=self.workdir, stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self.command("tell", str(self.run), str(path), "--wait", WAIT)
        self.remember(rows)

    def chemist(self, number: int, round: int, plate: Path) -> Path | None:
        """Score a plate and tell it as this round has it; a late plate is returned, untold."""
        rows = self.score(plate)
        scored = self.workdir / "plates" / f"{plate.stem}-scored"  # the chemist's own folder
        if round == FAILED_ROUND and number == 0:
            rows[7] = {"id": rows[7]["id"], "score": "", "reason": "no signal in the well"}
        if round == LATE_ROUND and number == self.args.chemists - 1:
            return plate
        if round == KILL_ROUND and number == 1:
            self.killed_tell(rows, scored.with_suffix(".csv"))
        elif round == EXCEL_ROUND and number in (1, 2):
            style = "xlsx" if number == 1 else "excel-csv"
            self.tell(rows, scored.with_suffix(".xlsx" if number == 1 else ".csv"), style)
        else:
            self.tell(rows, scored.with_suffix(".csv"))
        return None

    def play(self) -> None:
        chemists = self.args.chemists
        late: Path | None = None
        with ThreadPoolExecutor(chemists) as pool:
            for round in range(self.args.rounds):
                plates = [self.ask(first=True)] if round == 0 else []
                plates += pool.map(self.ask, [False] * (chemists - len(plates)))
                held = list(pool.map(self.chemist, range(chemists), [round] * chemists, plates))
                self.command("status", str(self.run))
                self.read_as_teammate()
                kept = [plate for plate in held if plate is not None]
                if kept:
                    late = kept[0]
                    self.command("tell", str(self.run), "--proceed", "--yes", "--wait", WAIT)
                if round == TOLD_LATE_ROUND and late is not None:
                    self.tell(self.score(late), self.workdir / "plates" / "late-scored.csv")
                    late = None
                print(f"round {round + 1} done", file=sys.stderr)

    def check(self) -> list[str]:
        """What is wrong with the results: scores missing, doubled or different."""
        rows = [json.loads(line) for line in (self.run / "results.jsonl").read_text().splitlines()]
        searched = [row for row in rows if row["source"] != "known"]
        ids = [str(row["id"]) for row in searched]
        counts = Counter(ids)
        problems = [f"id {id} appears {n} times" for id, n in counts.items() if n > 1]
        found = {str(row["id"]): row for row in searched}
        for id, told in self.told.items():
            row = found.get(id)
            if row is None:
                problems.append(f"id {id} told, not in the results")
            elif isinstance(told, str) and row["reason"] != told:
                problems.append(f"id {id} failed ({told}), results say {row['reason']!r}")
            elif not isinstance(told, str) and abs(row["score"] - told) > 1e-9 * max(1, abs(told)):
                problems.append(f"id {id} told {told}, results say {row['score']}")
        problems += [f"id {id} in the results, never told" for id in set(found) - set(self.told)]
        return problems


def write_plate(rows: list[dict[str, Any]], path: Path, style: str) -> None:
    """The rows as a person's tool saves them: plain CSV, Excel's CSV UTF-8 (a byte order
    mark, `;`, decimal commas, `ID;Score;Reason` headers) or an Excel workbook."""
    header = ["ID", "Score", "Reason"]
    values = [[row["id"], row["score"], row.get("reason", "")] for row in rows]
    if style == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(header)
        for id, score, reason in values:
            sheet.append([int(id), score if score != "" else None, reason or None])
        book.save(path)
    elif style == "excel-csv":
        lines = [";".join(header)]
        lines += [f"{id};{str(score).replace('.', ',')};{reason}" for id, score, reason in values]
        path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    else:
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "score", "reason"])
            writer.writerows(values)


def _reader_account() -> bool:
    """Whether a second Unix account can read the run (as root: one is made if missing)."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        print("not root: `status` is read by this account, not a second one", file=sys.stderr)
        return False
    try:
        pwd.getpwnam(READER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", READER], check=True)
    return True


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(campaign: Campaign, problems: list[str], seconds: float) -> str:
    args = campaign.args
    lines = [
        f"backend {args.backend}, {args.n:,} items x {args.dim}, {args.chemists} chemists x "
        f"{args.rounds} rounds x {args.wells} wells; {seconds:.0f} s in all",
        "",
        "| command | runs | p50 s | p95 s | max s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, times in sorted(campaign.times.items()):
        lines.append(
            f"| {name} | {len(times)} | {percentile(times, 50):.2f} | "
            f"{percentile(times, 95):.2f} | {max(times):.2f} |"
        )
    failed = sum(isinstance(v, str) for v in campaign.told.values())
    lines += [
        "",
        f"scores told: {len(campaign.told)} ({failed} failed wells); "
        + ("every one in results.jsonl exactly once" if not problems else "PROBLEMS:"),
        *problems[:20],
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["faiss", "pgvector"], default="faiss")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--chemists", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--wells", type=int, default=96)
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--keep", action="store_true", help="keep the run directory, and say where")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="emb-opt-campaign-"))
    os.chmod(workdir, 0o755)  # the second account reads the run inside
    try:
        campaign = Campaign(args, workdir)
        began = time.perf_counter()
        campaign.play()
        text = report(campaign, campaign.check(), time.perf_counter() - began)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
