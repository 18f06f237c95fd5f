"""`emb-opt run / inspect / plot`: outputs, one-line errors, secrets, entry-point backends."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from run_processes import finish, start_run

from emb_opt.cli.main import main
from emb_opt.cli.plots import PLOTS
from emb_opt.log import load_log


def run_cli(*args: str) -> int:
    return main(list(args))


def test_run_writes_every_output_and_inspect_summarises(write_config, tmp_path, capsys):
    config = write_config()
    assert run_cli("run", str(config), "--quiet") == 0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["counters"]["iterations"] == 6
    assert manifest["versions"]["emb-opt"]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert rows and rows == sorted(rows, key=lambda r: -r["score"])
    assert all(r["metadata"]["rand"] < 0.9 for r in rows)
    assert "embedding" not in rows[0]  # results.jsonl is for people; the parquet file has them
    log = load_log(out / "log")
    for row in rows:  # the query that found each result is in the tree, with its trajectory
        node = log.query_tree.nodes[row["query_id"]]
        assert node.trajectory == row["trajectory"] == node.path()[0].trajectory
    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == len(rows)
    assert len(table.column("embedding")[0]) == 16
    for plot in PLOTS:
        assert (out / plot).stat().st_size > 0

    assert run_cli("inspect", str(out), "--top", "3") == 0
    text = capsys.readouterr().out
    assert "status          finished" in text and f"{rows[0]['score']:.5f}" in text
    assert run_cli("plot", str(out)) == 0


def test_progress_lines_go_to_stderr_when_not_a_terminal(write_config, capsys):
    assert run_cli("run", str(write_config())) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 7 and lines[-2].startswith("iteration 6/6  best")
    assert lines[-1] == "stopped after 6 iterations: 6 iterations done"


def test_the_run_says_why_it_stopped(write_config, tmp_path, capsys):
    config = write_config(stop={"iterations": 50, "max_score_calls": 40})
    assert run_cli("run", str(config)) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].endswith(": score budget of 40 calls spent")
    progress = [line for line in lines if line.startswith("iteration ")]
    assert progress and not any("/50" in line for line in progress)  # the budget counts
    assert re.search(r"^iteration \d+  best .*  score calls 40/40  db calls", progress[-1])
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["stopped"] == "score budget of 40 calls spent"
    assert manifest["counters"]["score_calls"] == 40
    assert run_cli("inspect", str(tmp_path / "out")) == 0
    assert "stopped         score budget of 40 calls spent" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ({"source": {"backend": "qdrnt"}}, "unknown backend 'qdrnt'; expected one of"),
        ({"source": {"colection": "x"}}, "source.colection: unknown key"),
        ({"source": {"k": 0}}, "source.k: Input should be greater than 0"),
        (
            {"source": {"filter": {"rand": {"$lt": "cheap"}}}},
            "rand.$lt: expected a number, got 'cheap'",
        ),
        ({"score": {"function": "no_such_module:score"}}, "cannot import module 'no_such_module'"),
        ({"score": {"function": "slow_objective:missing"}}, "has no attribute 'missing'"),
        (
            {"score": {"function": "slow_objective:NOT_CALLABLE"}},
            "'slow_objective:NOT_CALLABLE' is not callable",
        ),
        (
            {"strategy": {"update": {"name": "rl", "lrz": [1]}}},
            "strategy.update: cannot build 'rl'",
        ),
        ({"start": {"random": 3, "ids": [1]}}, "give exactly one of random, ids or file"),
        (
            {"executor": {"kind": "gpu"}},
            "executor.kind: unknown executor kind 'gpu'; expected one of serial, thread, process",
        ),
        ({"score": None}, "score: required key is missing"),
    ],
)
def test_config_errors_are_one_line(write_config, capsys, blocks, message):
    assert run_cli("run", str(write_config(**blocks))) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_config_file_and_debug_traceback(tmp_path, capsys):
    assert run_cli("run", str(tmp_path / "nope.yaml")) == 2
    assert "no such config file" in capsys.readouterr().err
    assert run_cli("--debug", "run", str(tmp_path / "nope.yaml")) == 2
    assert "Traceback" in capsys.readouterr().err


def test_output_directory_rules(write_config, tmp_path, capsys):
    first = write_config()
    assert run_cli("run", str(first), "--quiet") == 0
    assert run_cli("run", str(first), "--quiet") == 2
    assert "already holds this run" in capsys.readouterr().err
    other = write_config("other.yaml", source={"k": 6}, strategy={"prune": None})
    assert run_cli("run", str(other), "--quiet") == 2
    assert "holds the run of a config that differs in source.k, strategy.prune" in (
        capsys.readouterr().err
    )
    assert run_cli("run", str(other), "--resume", "--quiet") == 2
    assert "--resume with a changed config" in capsys.readouterr().err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    assert run_cli("run", str(first), "--output", str(tmp_path / "junk"), "--quiet") == 2
    assert "is not empty and holds no emb_opt run" in capsys.readouterr().err


def test_secrets_from_the_environment_are_never_written(
    write_config, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EMB_OPT_TEST_SECRET", "hunter2-very-secret")
    config = write_config(
        score={"function": "slow_objective:secret_reading_score"},
        source={"options": {}, "api_key": "${EMB_OPT_TEST_SECRET}"},
    )
    assert run_cli("run", str(config)) == 0
    captured = capsys.readouterr()
    assert "hunter2" not in captured.out + captured.err
    for path in (tmp_path / "out").iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert "hunter2" not in path.read_text()
    monkeypatch.delenv("EMB_OPT_TEST_SECRET")
    assert run_cli("run", str(config), "--output", str(tmp_path / "b")) == 2
    assert "environment variable EMB_OPT_TEST_SECRET is not set" in capsys.readouterr().err


THIRD_PARTY = {
    "build": """
        from emb_opt.adapters.numpy import BACKEND as NUMPY

        CALLS = []

        def build(source):
            CALLS.append(source.collection)
            return NUMPY.connect(source)
    """,
    "BACKEND": """
        from dataclasses import replace

        from emb_opt.adapters.numpy import BACKEND as NUMPY

        CALLS = []

        def connect(source):
            CALLS.append(source.collection)
            return NUMPY.connect(source)

        BACKEND = replace(NUMPY, name="mydb", extra=None, connect=connect)
    """,
}


@pytest.mark.parametrize("target", sorted(THIRD_PARTY))
def test_backend_from_an_installed_entry_point(write_config, tmp_path, monkeypatch, target):
    """A third-party package's backend (a `Backend` descriptor or a builder function) works
    from config through the emb_opt.adapters group."""
    module = f"thirdparty_{target.lower()}"
    site = tmp_path / "site"
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[emb_opt.adapters]\nmydb = {module}:{target}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(THIRD_PARTY[target]))
    monkeypatch.syspath_prepend(str(site))
    config = write_config(source={"backend": "mydb", "collection": "third"})
    assert run_cli("run", str(config), "--quiet") == 0
    assert importlib.import_module(module).CALLS == ["third"]


@pytest.mark.parametrize(
    "backend, url",
    [(name, "http://127.0.0.1:9") for name in ("chroma", "milvus", "qdrant")]
    + [("pgvector", "postgresql://postgres:secret@127.0.0.1:9/postgres")],
)
def test_unreachable_server_is_a_one_line_error_naming_it(write_config, capsys, backend, url):
    config = write_config(source={"backend": backend, "url": url, "data": None})
    assert run_cli("run", str(config), "--quiet") == 2
    err = capsys.readouterr().err
    assert err.startswith("emb-opt: error:") and err.count("\n") == 1
    assert "127.0.0.1" in err and "secret" not in err


def _files_config(directory, **start):
    """A config in `directory` over `emb.npy` / `meta.jsonl` beside it, all paths relative."""
    import numpy as np
    import yaml

    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    np.save(directory / "emb.npy", rng.normal(size=(200, 8)).astype(np.float32))
    np.save(directory / "start.npy", rng.normal(size=(3, 8)).astype(np.float32))
    rows = [json.dumps({"item": f"i{i}", "rand": float(r)}) for i, r in enumerate(rng.random(200))]
    (directory / "meta.jsonl").write_text("\n".join(rows) + "\n")
    config = {
        "source": {
            "backend": "faiss",
            "k": 5,
            "data": {"kind": "files", "embeddings": "emb.npy", "metadata": "meta.jsonl"},
        },
        "score": {"function": "target"},
        "start": start or {"file": "start.npy"},
        "stop": {"iterations": 2},
        "output": {"dir": "out"},
    }
    path = directory / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_relative_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    config = _files_config(tmp_path / "cfgs")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run_cli("run", "../cfgs/run.yaml", "--quiet") == 0
    manifest = json.loads((config.parent / "out" / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert not any(elsewhere.iterdir())


def test_a_config_whose_data_cannot_be_read_leaves_no_output_directory(
    tmp_path, monkeypatch, capsys
):
    config = _files_config(tmp_path / "cfgs")
    monkeypatch.chdir(config.parent)
    (tmp_path / "cfgs" / "emb.npy").unlink()
    assert run_cli("run", str(config), "--quiet") == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "cfgs" / "out").exists()


def test_a_config_whose_start_file_cannot_be_read_leaves_no_output_directory(
    tmp_path, monkeypatch, capsys
):
    config = _files_config(tmp_path / "cfgs", file="missing.npy")
    monkeypatch.chdir(config.parent)
    assert run_cli("run", str(config), "--quiet") == 2
    assert "start.file: cannot read" in capsys.readouterr().err
    assert not (tmp_path / "cfgs" / "out").exists()


def test_run_says_where_it_writes_then_its_best_results(write_config, tmp_path, capsys):
    assert run_cli("run", str(write_config()), "--quiet") == 0
    out = tmp_path / "out"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"run directory: {out.absolute()}"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    header = lines[1].split()
    assert header == ["rank", "score", "iteration", "id", "item", "rand"]
    best = lines[2].split()
    assert best[:4] == [
        "1",
        f"{rows[0]['score']:.5f}",
        str(rows[0]["iteration"]),
        str(rows[0]["id"]),
    ]
    assert len(lines[2:12]) == 10 and lines[12] == ""
    written = {line.removeprefix("wrote ") for line in lines[13:]}
    assert {str(out / "results.jsonl"), str(out / "results.parquet")} <= written
    assert all(Path(path).exists() and Path(path).is_absolute() for path in written)


def test_results_parquet_has_real_types_and_a_column_per_metadata_key(write_config, tmp_path):
    assert run_cli("run", str(write_config()), "--quiet") == 0
    out = tmp_path / "out"
    table = pq.read_table(out / "results.parquet")
    types = {field.name: str(field.type) for field in table.schema}
    assert types["id"] == "int64" and types["score"] == "double"
    assert types["iteration"] == "int64" and types["item"] == "string"
    assert types["metadata.rand"] == "double" and "metadata" not in types
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert table.column("id").to_pylist() == [row["id"] for row in rows]
    assert table.column("metadata.rand").to_pylist() == [row["metadata"]["rand"] for row in rows]


@pytest.mark.slow
def test_inspect_shows_a_running_run_as_it_stands(write_config, tmp_path, capsys):
    config = write_config(
        score={"function": {"name": "slow_objective:SlowTarget", "delay": 0.3}},
        stop={"iterations": 200},
    )
    out = tmp_path / "running"
    process = start_run(config, out, stdout=subprocess.PIPE)
    try:
        checkpoints = out / "log" / "checkpoints.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            (out / "results.jsonl").exists() and len(checkpoints.read_text().splitlines()) >= 3
        ):
            time.sleep(0.05)
        assert run_cli("inspect", str(out)) == 0
        text = capsys.readouterr().out
        assert "status          running" in text
        for name in ("iterations", "unique items"):
            value = re.search(rf"^{name}\s+(\S+)$", text, re.M)
            assert value and value.group(1).isdigit() and int(value.group(1)) >= 1, text
        assert re.search(r"^best score\s+0\.\d+$", text, re.M), text
        assert (out / "results.jsonl").read_text().splitlines()
        assert process.stdout.readline() == f"run directory: {out.absolute()}\n"  # at the start
    finally:
        process.kill()  # SIGKILL: the manifest still says running
        finish(process, 30)
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    assert run_cli("inspect", str(out)) == 0
    assert "status          stopped (killed?)\n" in capsys.readouterr().out


def test_printed_paths_have_no_dot_dot(write_config, tmp_path, monkeypatch, capsys):
    for folder in ("proj", "w"):
        (tmp_path / folder).mkdir()
    config = write_config("proj/run.yaml", output={"dir": "out"})
    monkeypatch.chdir(tmp_path)
    winding = Path("w") / ".." / "proj"
    assert run_cli("run", str(winding / "run.yaml"), "--quiet") == 0
    run = config.parent.resolve() / "out"
    out = capsys.readouterr().out
    assert f"run directory: {run}\n" in out and f"wrote {run / 'results.jsonl'}\n" in out
    assert run_cli("inspect", str(winding / "out")) == 0
    out += capsys.readouterr().out
    assert f"run             {run}\n" in out
    assert ".." not in out
