"""Every example config runs as written on a fresh machine, on the embedded engine where one
exists (embedded Chroma, Milvus Lite, Qdrant local mode, PostgreSQL started for the run), and
on its backend's real server when its URL variable is set; only the source block differs.

The exact engines find the same items with the same scores; Chroma (HNSW only, even with a
wide ef) may take a different path after a near tie, so it must agree on the best item."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from engines import postgres_skip_reason

from emb_opt.adapters.backend import builtin_backends
from emb_opt.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BACKENDS = sorted(name.replace("-", "_") for name in builtin_backends())  # example file names

# what points an example at a server, or moves its embedded database
ENGINE_VARIABLES = sorted(
    set(
        re.findall(
            r"\$\{(EMB_OPT_\w+?)(?::-[^}]*)?\}",
            "".join(path.read_text() for path in EXAMPLES.glob("*.yaml")),
        )
    )
)


def test_every_example_config_is_one_of_the_backends_compared():
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(BACKENDS)


# Qdrant local mode is qdrant-client's Python emulation: it checks the filter on every point
# for every query, and this example takes minutes on a busy 2-core machine. It runs with only
# the collection and the budget made smaller.
SMALLER = {"qdrant": {"source": {"data": {"n": 1000}}, "stop": {"max_score_calls": 100}}}


@pytest.fixture
def examples_copy() -> Iterator[Path]:
    """The example configs, copied as they are (but for SMALLER) into a fresh directory of the
    system temp dir that others may enter: as root, PostgreSQL runs as the `postgres` user and
    must reach its data directory (pytest's tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="emb_opt_examples-"))
    try:
        directory.chmod(0o755)
        for config in EXAMPLES.glob("*.yaml"):
            shutil.copy(config, directory / config.name)
        for name, changes in SMALLER.items():
            config = merged(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text()), changes)
            (directory / f"{name}.yaml").write_text(yaml.safe_dump(config))
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def merged(config: dict, changes: dict) -> dict:
    """`config` with the values in `changes` put in place, nested blocks merged."""
    return {
        key: merged(value, changes[key]) if isinstance(value, dict) and key in changes else value
        for key, value in config.items()
    } | {key: value for key, value in changes.items() if not isinstance(config.get(key), dict)}


def as_written(name: str) -> object:
    marks = [pytest.mark.slow]
    if name == "pgvector":  # the run starts a PostgreSQL server
        marks += [pytest.mark.engine]
        if reason := postgres_skip_reason():
            marks.append(pytest.mark.skip(reason=reason))
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [as_written(p.stem) for p in sorted(EXAMPLES.glob("*.yaml"))])
def test_the_example_runs_as_written(name, examples_copy, tmp_path, monkeypatch):
    """`emb-opt run examples/NAME.yaml` with no server and no variable set: only the output
    goes elsewhere; the embedded database lives beside the config, as it would."""
    for variable in ENGINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    output = tmp_path / "run"
    assert (
        main(["run", str(examples_copy / f"{name}.yaml"), "--output", str(output), "--quiet"]) == 0
    )
    rows = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
    assert rows and all(row["metadata"]["rand"] < 0.9 for row in rows)  # the example's filter
    assert json.loads((output / "manifest.json").read_text())["status"] == "finished"
    if name == "pgvector":  # the server it started is stopped: its lock file is gone
        data = examples_copy / "runs" / "pgvector"
        assert (data / "PG_VERSION").exists() and not (data / "postmaster.pid").exists()


def test_examples_differ_only_in_their_source_block():
    configs = [yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text()) for name in BACKENDS]
    for config in configs:
        config.pop("source")
        config.pop("output")
    assert all(config == configs[0] for config in configs)


@pytest.fixture(scope="module")
def engine_urls(chroma_server, milvus_server, postgres_server):
    return {
        "EMB_OPT_CHROMA_URL": chroma_server.url,
        "EMB_OPT_MILVUS_URI": milvus_server.uri,
        "EMB_OPT_PGVECTOR_URL": postgres_server.url,
    }


@pytest.mark.slow
@pytest.mark.engine  # chroma run, the Milvus 2.3.5 server and PostgreSQL
def test_every_example_runs_and_finds_the_same_items(engine_urls, tmp_path, monkeypatch):
    for name, value in engine_urls.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EMB_OPT_QDRANT_URL", raising=False)  # Qdrant: in-process local mode
    for variable in ENGINE_VARIABLES:  # embedded engines: data in tmp_path
        if variable.endswith("_PATH"):
            monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    found = {}
    for backend in BACKENDS:
        output = tmp_path / "runs" / backend
        assert (
            main(["run", str(EXAMPLES / f"{backend}.yaml"), "--output", str(output), "--quiet"])
            == 0
        )
        rows = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
        found[backend] = rows
    reference = found["numpy"]
    for backend, rows in found.items():
        assert rows[0]["id"] == reference[0]["id"], backend
        assert rows[0]["score"] == pytest.approx(reference[0]["score"], rel=1e-6)
        if backend != "chroma":
            assert [r["id"] for r in rows] == [r["id"] for r in reference], backend
            scores = [r["score"] for r in rows]
            assert scores == pytest.approx([r["score"] for r in reference], rel=1e-6)
