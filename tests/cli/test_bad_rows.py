"""Rows of scores files, huge outputs and the machine's limits: one clear line each.

Scores told (`emb-opt tell`) or known before the search (`start: {scores: FILE}`) are real
numbers or refused naming the row; a tell with many bad rows lists a few and counts the
rest; full disks, closed pipes and memory caps end in one line (or quietly, for a pipe) and
lose nothing already done. Runs under a limit go through `emb-opt` in a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from run_processes import finish, start_run
from test_bad_input import cli, one_line

from emb_opt.cli.main import main
from emb_opt.scorefile import parse_score

EXTERNAL = {"function": None, "external": True}
HUGE = 10**400  # beyond float range: float() raises OverflowError


def write_scores(path: Path, rows: list[dict[str, Any]]) -> Path:
    """`rows` (id, score) as the suffix of `path` says: CSV text, JSON lines or Parquet."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "score"])
            writer.writeheader()
            writer.writerows(rows)
    return path


def asked_ids(config: Path, capsys) -> list[str]:
    """Ask for the first items of the run of `config`; their ids."""
    assert main(["ask", str(config)]) == 0
    asked = Path(capsys.readouterr().out.strip())
    with open(asked) as handle:
        return [row["id"] for row in csv.DictReader(handle)]


# the first row's score, the file it is in, and what the line says
BAD_SCORES = {
    "JSON true": (True, "scores.jsonl", ["row 1", "True", "boolean, not a number"]),
    "Parquet bool": (True, "scores.parquet", ["row 1", "True", "boolean, not a number"]),
    "underscores": ("1_000", "scores.csv", ["row 2", "'1_000'", "not a number"]),
    "hex": ("0x10", "scores.csv", ["row 2", "'0x10'", "not a number"]),
    "400 digits": (HUGE, "scores.jsonl", ["row 1", "1000", "too large for a float"]),
    "nan": ("nan", "scores.csv", ["row 2", "'nan'", "scores must be finite"]),
}


def bad_rows(ids: list[str], first: Any) -> list[dict[str, Any]]:
    """A row per id: the first scored `first`, the rest 0.5 (as bool where `first` is one)."""
    rest = True if isinstance(first, bool) else 0.5
    return [{"id": ids[0], "score": first}, *({"id": id, "score": rest} for id in ids[1:])]


@pytest.mark.parametrize("case", BAD_SCORES)
def test_a_told_score_that_is_no_real_number_is_one_line(write_config, tmp_path, capsys, case):
    first, name, names = BAD_SCORES[case]
    config = write_config(score=EXTERNAL)
    ids = asked_ids(config, capsys)
    scores = write_scores(tmp_path / name, bad_rows(ids, first))
    code, err = cli(capsys, "tell", str(tmp_path / "out"), str(scores))
    assert code == 2
    one_line(err, "emb-opt: error: ", name, f"id '{ids[0]}'", *names, "nothing was told")
    assert main(["status", str(tmp_path / "out")]) == 0
    assert f"waiting      {len(ids)}" in capsys.readouterr().out


@pytest.mark.parametrize("case", BAD_SCORES)
def test_a_known_score_that_is_no_real_number_is_one_line(write_config, tmp_path, capsys, case):
    first, name, names = BAD_SCORES[case]
    known = write_scores(tmp_path / name, bad_rows(["0", "10", "20"], first))
    config = write_config(start={"scores": str(known)})
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert code == 2
    one_line(err, "emb-opt: error: start.scores", name, "id '0'", *names)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "number"),
    [
        *[("0.5", 0.5), (" 1e3 ", 1000.0), ("-.5", -0.5), ("+2.", 2.0), ("1E-2", 0.01)],
        *[(7, 7.0), (Decimal("2.50"), 2.5), (np.float32(0.5), 0.5)],
    ],
)
def test_numbers_and_plain_decimal_or_scientific_text_are_scores(text, number):
    assert parse_score(text) == (number, None)


@pytest.mark.parametrize("text", ["1_000", "0x10", "1e", "\u0661", "1 000", "", "e5", "--1"])
def test_other_text_is_no_score(text):
    assert parse_score(text)[1] == ", which is not a number"


def test_a_partial_tell_of_many_bad_rows_lists_a_few_and_counts_the_rest(
    write_config, tmp_path, capsys
):
    config = write_config(score=EXTERNAL)
    ids = asked_ids(config, capsys)
    unknown = [{"id": f"no-such-{n}", "score": 0.5} for n in range(2000)]
    good = [{"id": id, "score": 0.5} for id in ids]
    scores = write_scores(tmp_path / "scores.csv", good + unknown)
    assert main(["tell", str(tmp_path / "out"), str(scores), "--partial"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and len(out) < 1000, out
    assert f"told {len(ids)} score(s)" in out and "and 1,995 more" in out
    listed = next((tmp_path / "out" / "ask").glob("problems-*.txt"))
    assert str(listed) in out
    lines = listed.read_text().splitlines()
    assert lines[0] == str(scores) and len(lines) == 1 + 2000
    assert lines[-1] == f"row {len(ids) + 2001}: id 'no-such-1999' is not waiting for a score"


def test_a_refused_tell_of_many_bad_rows_is_one_short_line(write_config, tmp_path, capsys):
    config = write_config(score=EXTERNAL)
    ids = asked_ids(config, capsys)
    scores = write_scores(tmp_path / "scores.csv", [{"id": id, "score": "x" * 10**6} for id in ids])
    code, err = cli(capsys, "tell", str(tmp_path / "out"), str(scores))
    assert code == 2 and len(err) < 1500, err[:3000]
    one_line(err, f"and {len(ids) - 5} more", "problems-", "nothing was told")


# --- the machine's limits and a reader that stops reading, in a subprocess ------------------


def file_size_limit(limit: int) -> Callable[[], None]:
    """For preexec_fn: files of at most `limit` bytes; SIGXFSZ ignored, so that a write past
    the limit fails with "[Errno 27] File too large" instead of killing the process."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_files


@pytest.mark.slow
def test_a_file_too_large_is_one_line_naming_the_file(write_config, tmp_path):
    config = write_config(stop={"iterations": 40})
    out = tmp_path / "out"
    code, err = finish(start_run(config, out, preexec_fn=file_size_limit(30_000)))
    assert code == 2
    one_line(err, "emb-opt: error: [Errno 27] File too large: ", str(out))
    named = Path(err.split("File too large: ")[1].strip().strip("'"))
    assert named.parent in (out, out / "log") and named.exists()
    assert cli_status(out) == f"failed: OSError: [Errno 27] File too large: '{named}'"
    assert finish(start_run(config, out, "--resume")) == (0, "")  # nothing done was lost
    assert cli_status(out) == "finished"


def cli_status(out: Path) -> str:
    return str(json.loads((out / "manifest.json").read_text())["status"])


def closed_stdout(command: list[str]) -> subprocess.Popen:
    """`emb-opt COMMAND` with its stdout a pipe nobody reads: closed before it writes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emb_opt", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}"},
    )
    assert process.stdout is not None
    process.stdout.close()
    return process


@pytest.mark.slow
def test_a_closed_stdout_ends_quietly_and_the_run_completes(write_config, tmp_path, capsys):
    config = write_config()
    out = tmp_path / "out"
    assert finish(closed_stdout(["run", str(config), "--quiet"])) == (141, "")
    assert cli_status(out) == "finished" and (out / "results.parquet").exists()
    assert finish(closed_stdout(["inspect", str(out)])) == (141, "")
    assert main(["inspect", str(out)]) == 0  # an open stdout still gets everything
    assert capsys.readouterr().out.startswith("run")


MAPPED_AFTER_IMPORTS = (  # bytes a process maps once it imported what a run imports first
    "import os, faiss, numpy, yaml, pydantic, emb_opt.cli.main, emb_opt.config; "
    "print(int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE'))"
)


@pytest.mark.slow
def test_embeddings_beyond_the_address_space_limit_are_one_line(
    tmp_path, write_config, monkeypatch
):
    rows, dimension = 36_621, 512  # 150 MB of float64, twice what float32 takes
    embeddings = tmp_path / "emb.npy"
    np.save(embeddings, np.random.default_rng(0).standard_normal((rows, dimension)))
    config = write_config(source={"data": {"kind": "files", "embeddings": str(embeddings)}})
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # fewer threads: less memory mapped
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    imported = subprocess.run([sys.executable, "-c", MAPPED_AFTER_IMPORTS], capture_output=True)
    # room for the file's mapping and half of the float32 copies it needs
    limit = int(imported.stdout) + embeddings.stat().st_size + rows * dimension * 4

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        code, err = finish(start_run(config, tmp_path / "out", preexec_fn=limit_memory))
    finally:
        embeddings.unlink()
    assert code == 2
    one_line(err, "emb-opt: error: source.data.embeddings", "emb.npy", "36621 rows", "ulimit -v")
    assert not (tmp_path / "out").exists()


WRITES = {  # a run file written past a 1,000-byte limit
    "text": "from emb_opt.atomic import write_atomically as w; w(PATH, 'x' * 5000)",
    "parquet": "from emb_opt.formats import Column, Table, write; "
    "write(PATH.with_suffix('.parquet'), Table([Column('a', 'int', list(range(5000)))]))",
}


@pytest.mark.parametrize("kind", WRITES)
def test_a_write_past_the_file_size_limit_names_the_file(tmp_path, kind):
    path = tmp_path / "file"
    program = f"from pathlib import Path; PATH = Path({str(path)!r}); {WRITES[kind]}"
    done = subprocess.run(
        [sys.executable, "-c", program],
        preexec_fn=file_size_limit(1000),
        capture_output=True,
        text=True,
    )
    last = done.stderr.strip().splitlines()[-1]
    written = path if kind == "text" else path.with_suffix(".parquet")
    assert last.startswith("OSError: [Errno 27]") and last.endswith(f": '{written}'"), last
    assert list(tmp_path.iterdir()) == []  # no temporary file left
