"""Every bad input gets one clear line, and nothing a run already did is lost.

Each case is tried as a hostile user would, through `emb-opt run` / `--resume`: the exit code
is not 0, stderr is exactly one line naming the file, key or plugin at fault, `--debug` shows
the traceback, and a run directory still loads and resumes. Add a row for every new way found
to break a run.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bad_plugins
import numpy as np
import pytest
import yaml
from run_processes import finish, results, start_run

from emb_opt.cli.main import main
from emb_opt.cli.manifest import MANIFEST
from emb_opt.config.loading import substitute
from emb_opt.log import SearchLog
from emb_opt.logfile import CHECKPOINTS, _with_checksum

VERSION_1 = Path(__file__).parent / "data" / "version1"


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run `emb-opt ARGS` in this process; its exit code and stderr."""
    code = main(list(args))
    return code, capsys.readouterr().err


def one_line(err: str, *names: str) -> None:
    """`err` is exactly one line, and it names every one of `names`."""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "errors.pydantic.dev" not in err, err
    for name in names:
        assert name in err, f"{name!r} not in {err!r}"


def manifest(output: Path) -> Any:
    return json.loads((output / "manifest.json").read_text())


# --- configs: each case gives the blocks to change (it may write files first) ---------------

Setup = Callable[[Path, pytest.MonkeyPatch], dict[str, Any]]


def blocks(**given: Any) -> Setup:
    return lambda tmp_path, monkeypatch: given


def data_files(
    embeddings: Any, metadata: list[str] | None = None, metadata_file: str = "meta.jsonl"
) -> Setup:
    """A `files` data block over `embeddings` (saved as .npy) and `metadata` lines (in
    `metadata_file`, which is left missing without them)."""

    def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        np.save(tmp_path / "emb.npy", np.asarray(embeddings))
        data = {"kind": "files", "embeddings": str(tmp_path / "emb.npy")}
        if metadata is not None:
            (tmp_path / metadata_file).write_text("".join(line + "\n" for line in metadata))
        if metadata is not None or metadata_file != "meta.jsonl":
            data["metadata"] = str(tmp_path / metadata_file)
        return {"source": {"data": data, "filter": None}}

    return setup


def score_module(name: str, text: str) -> Setup:
    """A score function from a module `name` with source `text`, importable by path."""

    def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        (tmp_path / "modules").mkdir()
        (tmp_path / "modules" / f"{name}.py").write_text(text)
        monkeypatch.syspath_prepend(str(tmp_path / "modules"))
        return {"score": {"function": f"{name}:score"}}

    return setup


ROWS = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)


def engine_source(backend: str, data: list[str] | None = None, **source: Any) -> Setup:
    """A `source` block for an embedded engine in a fresh folder, over the default
    synthetic data or over ROWS with metadata lines `data`."""

    def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        blocks = data_files(ROWS, data)(tmp_path, monkeypatch) if data else {"source": {}}
        engine = {"backend": backend, "path": str(tmp_path / backend), **source}
        return {"source": {**blocks["source"], **engine}}

    return setup


WITH_NAN = ROWS.copy()
WITH_NAN[7, 2] = np.nan

CONFIG_CASES = {
    "unknown adapter option": (
        blocks(source={"options": {"bogus": 1}}),
        ["source.options.bogus", "FaissDataSource", "exact_below", "index"],
    ),
    "option the source block sets": (
        blocks(source={"options": {"k": 3}}),
        ["source.options.k", "set source.k instead"],
    ),
    "unknown numpy option": (
        blocks(source={"backend": "numpy", "options": {"metrc": "ip"}}),
        ["source.options.metrc", "NumpyDataSource", "metric"],
    ),
    "faiss index string that does not parse": (
        blocks(source={"options": {"index": "NoSuch"}}),
        ["source.options.index", "'NoSuch'", "could not parse"],
    ),
    "faiss index with more lists than rows": (
        blocks(source={"options": {"index": "IVF4096,Flat"}}),
        ["source.options.index", "'IVF4096,Flat'", "3000", "4096"],
    ),
    "faiss index not a string": (
        blocks(source={"options": {"index": 7}}),
        ["source.options.index", "index_factory string", "7"],
    ),
    "1-D embeddings": (
        data_files(np.zeros(50, dtype=np.float32)),
        ["source.data.embeddings", "emb.npy", "2-D", "(50,)"],
    ),
    "no embeddings": (
        data_files(np.zeros((0, 4), np.float32)),
        ["source.data.embeddings", "(0, 4)"],
    ),
    "text embeddings": (data_files(np.array([["a", "b"]])), ["source.data.embeddings", "numbers"]),
    "NaN embedding": (data_files(WITH_NAN), ["source.data.embeddings", "NaN", "row 7"]),
    "metadata rows that are lists": (
        data_files(ROWS, ["[1, 2]"] * len(ROWS)),
        ["source.data.metadata", "meta.jsonl", "line 1", "JSON object", "list"],
    ),
    "metadata line that is not JSON": (
        data_files(ROWS, ['{"a": 1}', "{nope"] + ['{"a": 1}'] * (len(ROWS) - 2)),
        ["source.data.metadata", "line 2", "not valid JSON"],
    ),
    "metadata file missing": (
        data_files(ROWS, metadata_file="nope.jsonl"),
        ["source.data.metadata", "nope.jsonl", "cannot read"],
    ),
    "data.n beyond memory": (
        blocks(source={"data": {"kind": "synthetic", "n": 1e12, "dim": 16}}),
        ["source.data.n", "1000000000000", "memory"],
    ),
    "score module that raises at import": (
        score_module("raising_at_import", "raise RuntimeError('no licence server')\n"),
        ["score.function", "'raising_at_import'", "RuntimeError", "no licence server"],
    ),
    "score module with a SyntaxError": (
        score_module("broken_syntax", "def score(items:\n    return []\n"),
        ["score.function", "'broken_syntax'", "SyntaxError", "line 1"],
    ),
    "score module that exits at import": (
        score_module("exiting_at_import", "import sys\nsys.exit('needs a GPU')\n"),
        ["score.function", "'exiting_at_import'", "SystemExit", "needs a GPU"],
    ),
    "relative score import path": (
        blocks(score={"function": ".x:y"}),
        ["score.function", "'.x:y'", "relative"],
    ),
    "k beyond the collection": (
        blocks(source={"k": 1_000_000_000}),
        ["source.k", "1000000000", "items of the collection that pass source.filter"],
    ),
    "metadata with a lone surrogate": (
        data_files(ROWS, ['{"tag": "ok"}'] * 5 + ['{"tag": "\\ud800"}'] * (len(ROWS) - 5)),
        ["source.data.metadata", "meta.jsonl", "line 6", "key 'tag'", "lone surrogate"],
    ),
    "chroma collection name Chroma refuses": (
        engine_source("chroma", collection="t"),
        ["source.collection", "Chroma collection name 't'", "3-512 characters"],
    ),
    "LanceDB metadata key it reserves": (
        engine_source("lancedb", data=['{"_distance": 0.5}'] * len(ROWS)),
        ["source.data", "metadata key '_distance'", "LanceDB column", "reserved"],
    ),
    "variable default that never closes": (
        blocks(output={"dir": "${EMB_OPT_UNSET_A:-${EMB_OPT_UNSET_B:-x}"}),
        ["output.dir", "'}'"],
    ),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_a_bad_config_is_one_line_naming_the_key(write_config, tmp_path, monkeypatch, capsys, case):
    setup, names = CONFIG_CASES[case]
    config = write_config(**setup(tmp_path, monkeypatch))
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert code == 2
    one_line(err, "emb-opt: error: ", *names)
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "case", ["unknown adapter option", "1-D embeddings", "score module with a SyntaxError"]
)
def test_debug_shows_the_traceback(write_config, tmp_path, monkeypatch, capsys, case):
    setup, names = CONFIG_CASES[case]
    config = write_config(**setup(tmp_path, monkeypatch))
    code, err = cli(capsys, "--debug", "run", str(config), "--quiet")
    assert code == 2
    last = err.rstrip().splitlines()[-1]
    assert "Traceback" in err and last.startswith("emb-opt: error: ") and names[0] in last


@pytest.mark.parametrize(
    "text",
    [
        "source: {backend: faiss, filter: " + "{$not: " * 600 + "{a: 1}" + "}" * 601 + "\n",
        "source:\n" + "".join("  " * d + "  $not:\n" for d in range(600)) + "  " * 601 + "a: 1\n",
        '{"source": {"filter": ' + '{"$not": ' * 600 + '{"a": 1}' + "}" * 601 + "}",
        '{"source": {"filter": ' + '{"$or": [' * 60 + '{"a": 1}' + "]}" * 60 + "}}",
    ],
    ids=["YAML flow", "YAML block", "JSON", "JSON 120 levels"],
)
def test_a_config_nested_too_deep_is_one_line(tmp_path, capsys, text):
    config = tmp_path / "deep.yaml"
    config.write_text(text)
    code, err = cli(capsys, "run", str(config), "--output", str(tmp_path / "out"), "--quiet")
    assert code == 2
    one_line(err, "emb-opt: error: ", "deep.yaml", "nested deeper than 100 levels")
    assert not (tmp_path / "out").exists()


def test_an_interrupt_before_the_run_directory_exists_advises_no_resume(
    write_config, tmp_path, monkeypatch, capsys
):
    setup = score_module("interrupting_at_import", "raise KeyboardInterrupt\n")
    config = write_config(**setup(tmp_path, monkeypatch))
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert (code, err) == (130, "emb-opt: interrupted: KeyboardInterrupt\n")
    assert not (tmp_path / "out").exists()


def test_nested_variable_defaults_expand(write_config, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EMB_OPT_UNSET_A", raising=False)
    monkeypatch.delenv("EMB_OPT_UNSET_B", raising=False)
    assert substitute("${EMB_OPT_UNSET_A:-${EMB_OPT_UNSET_B:-7}}") == "7"
    assert substitute("a${EMB_OPT_UNSET_A:-{${EMB_OPT_UNSET_B:-x}}}b") == "a{x}b"
    monkeypatch.setenv("EMB_OPT_UNSET_B", "5")
    assert substitute("${EMB_OPT_UNSET_A:-${EMB_OPT_UNSET_B:-7}}") == "5"
    monkeypatch.setenv("EMB_OPT_UNSET_A", "3")
    assert substitute("${EMB_OPT_UNSET_A:-${EMB_OPT_NEVER_SET}}") == "3"  # defaults are lazy
    assert substitute("${ not a variable } ${1X}") == "${ not a variable } ${1X}"
    monkeypatch.delenv("EMB_OPT_UNSET_A")
    config = write_config(stop={"iterations": "${EMB_OPT_UNSET_A:-${EMB_OPT_UNSET_C:-2}}"})
    assert cli(capsys, "run", str(config), "--quiet") == (0, "")
    assert manifest(tmp_path / "out")["counters"]["iterations"] == 2


# --- score values that are no number: the item is invalid, counted, never the best ----------

UPDATES = {
    "surrogate": {"name": "surrogate"},
    "rl": {"name": "rl", "lrs": [0.25, 1.0]},
    "guided": {"name": "guided", "batch": 10, "initial": 20, "features": 64},
}


@pytest.mark.parametrize(
    ("value", "update"),
    [("inf", "surrogate"), ("-inf", "surrogate"), ("nan", "rl"), ("inf", "rl"), ("nan", "guided")],
)
def test_a_non_finite_score_marks_the_item_invalid(write_config, tmp_path, capsys, value, update):
    config = write_config(
        score={"function": {"name": "bad_plugins:NonFiniteTarget", "value": value}},
        strategy={"update": UPDATES[update], "prune": None},
    )
    assert cli(capsys, "run", str(config), "--quiet") == (0, "")  # no model fit saw it
    out = tmp_path / "out"
    written = manifest(out)
    invalid = written["counters"]["non_finite_scores"]
    assert invalid > 0 and math.isfinite(written["best_score"])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    valid = [row for row in rows if row["score"] is not None]
    assert valid and all(math.isfinite(row["score"]) for row in valid)
    failed = [row["reason"] for row in rows if row["score"] is None]  # after the valid ones
    assert rows[len(valid) :] == [row for row in rows if row["score"] is None]
    assert failed.count(f"score function 'NonFiniteTarget' returned {value}") == invalid
    reasons = [i.internal.removal_reason for i in SearchLog.load(out / "log").items.values()]
    assert reasons.count(f"score function 'NonFiniteTarget' returned {value}") == invalid
    assert main(["inspect", str(out)]) == 0
    assert f"NaN/inf scores  {invalid}" in capsys.readouterr().out


# --- interrupts: the manifest says what happened, the log resumes to the same results -------


def straight_results(config: Path, tmp_path: Path, capsys) -> list[tuple]:
    """The results of the run of `config` without any interruption."""
    assert (
        cli(capsys, "run", str(config), "--output", str(tmp_path / "straight"), "--quiet")[0] == 0
    )
    return results(tmp_path / "straight")


INTERRUPTS = {
    "KeyboardInterrupt": (KeyboardInterrupt(), 130, "interrupted: KeyboardInterrupt"),
    "SystemExit": (
        SystemExit(3),
        3,
        "failed: SystemExit(3) raised by score function 'tripping_target'",
    ),
    "other BaseException": (
        bad_plugins.PluginPanic("meltdown"),
        1,
        "failed: PluginPanic('meltdown') raised by score function 'tripping_target'",
    ),
}


@pytest.mark.parametrize("case", INTERRUPTS)
def test_an_interrupt_keeps_what_finished_and_the_run_resumes(
    write_config, tmp_path, monkeypatch, capsys, case
):
    error, exit_code, status = INTERRUPTS[case]
    config = write_config(score={"function": "bad_plugins:tripping_target"})
    monkeypatch.setattr(bad_plugins, "TRIP", bad_plugins.Trip(at=4, error=error))
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert code == exit_code
    one_line(err, f"emb-opt: {status}; continue with --resume")
    out = tmp_path / "out"
    written = manifest(out)
    assert written["status"] == status
    log = SearchLog.load(out / "log")
    assert log.counters.iterations >= 3  # three score calls were made: their iterations are kept
    assert written["counters"]["iterations"] == log.counters.iterations

    monkeypatch.setattr(bad_plugins, "TRIP", None)
    assert cli(capsys, "run", str(config), "--resume", "--quiet") == (0, "")
    assert manifest(out)["status"] == "finished"
    assert results(out) == straight_results(config, tmp_path, capsys)


def test_a_run_stopped_by_a_failing_call_resumes_to_the_uninterrupted_results(
    write_config, tmp_path, monkeypatch, capsys
):
    """A score call that fails mid-iteration (a timeout, a service down): the half-done
    iteration is not kept, nor the strategy state its choice left, so the run resumed (with
    a longer timeout, another service) equals the uninterrupted one."""
    guided = {"update": {"name": "guided", "batch": 12, "queries": 6, "initial": 12}}
    config = write_config(
        score={"function": "bad_plugins:tripping_target"}, strategy={**guided, "prune": None}
    )
    trip = bad_plugins.Trip(at=3, error=ValueError("the model server is down"))
    monkeypatch.setattr(bad_plugins, "TRIP", trip)
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert code == 1
    one_line(err, "raised ValueError: the model server is down", "; continue with --resume")
    assert SearchLog.load(tmp_path / "out" / "log").counters.iterations == 2
    monkeypatch.setattr(bad_plugins, "TRIP", None)
    assert cli(capsys, "run", str(config), "--resume", "--quiet") == (0, "")
    assert results(tmp_path / "out") == straight_results(config, tmp_path, capsys)


def test_a_base_exception_from_the_update_function_names_it(write_config, tmp_path, capsys):
    config = write_config(strategy={"update": "bad_plugins:panicking_update", "prune": None})
    code, err = cli(capsys, "run", str(config), "--quiet")
    status = "failed: PluginPanic('no next step') raised by update function 'panicking_update'"
    assert code == 1
    one_line(err, status)
    assert manifest(tmp_path / "out")["status"] == status
    assert SearchLog.load(tmp_path / "out" / "log").pending is not None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signal_number", "exit_code", "status"),
    [
        (signal.SIGINT, 130, "interrupted: KeyboardInterrupt"),
        (signal.SIGTERM, 143, "interrupted: SIGTERM"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_mid_run_is_one_line_and_the_run_resumes(
    write_config, tmp_path, capsys, signal_number, exit_code, status
):
    config = write_config(
        score={"function": {"name": "slow_objective:SlowTarget", "delay": 0.1}},
        stop={"iterations": 8},
    )
    out = tmp_path / "out"
    process = start_run(config, out)
    log_file = out / "log" / CHECKPOINTS
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until 3 iterations are checkpointed
        if log_file.exists() and len(log_file.read_text().splitlines()) >= 4:
            break
        time.sleep(0.02)
    time.sleep(0.05)  # now inside the 4th iteration's score call
    process.send_signal(signal_number)
    code, err = finish(process, 60)
    assert code == exit_code
    one_line(err, f"emb-opt: {status}; continue with --resume")
    assert manifest(out)["status"] == status
    assert 3 <= SearchLog.load(out / "log").counters.iterations < 8

    assert finish(start_run(config, out, "--resume")) == (0, "")
    assert results(out) == straight_results(config, tmp_path, capsys)


# --- run directories damaged between runs ----------------------------------------------------


@pytest.fixture
def interrupted(write_config, tmp_path, monkeypatch, capsys) -> tuple[Path, Path]:
    """A run stopped by Ctrl-C in its 4th score call: its config and output directory."""
    return interrupt(write_config(), tmp_path, monkeypatch, capsys)


def interrupt(config: Path, tmp_path: Path, monkeypatch, capsys) -> tuple[Path, Path]:
    """Run `config` (its score function swapped for `tripping_target`) until Ctrl-C in its 4th
    score call: the config and the output directory."""
    document = yaml.safe_load(config.read_text())
    document["score"] = {"function": "bad_plugins:tripping_target"}
    config.write_text(yaml.safe_dump(document))
    monkeypatch.setattr(bad_plugins, "TRIP", bad_plugins.Trip(at=4, error=KeyboardInterrupt()))
    assert cli(capsys, "run", str(config), "--quiet")[0] == 130
    monkeypatch.setattr(bad_plugins, "TRIP", None)
    return config, tmp_path / "out"


def lines(out: Path) -> list[str]:
    return (out / "log" / CHECKPOINTS).read_text().splitlines(keepends=True)


def resigned(line: str, change: Callable[[dict], Any]) -> str:
    """`line` with its content changed by `change` and a checksum that matches again."""
    body = json.loads(line)
    body.pop("checksum")
    change(body)
    return _with_checksum(json.dumps(body, separators=(",", ":"))) + "\n"


def invalid_score(body: dict) -> None:
    key = next(iter(body["score"]))
    body["score"][key]["valid"] = "maybe"


def truncate_vectors(out: Path) -> None:
    (out / "log" / "vectors.f32").write_bytes(b"")


def flip_a_byte(path: Path) -> None:
    """Change one byte in the middle of `path`, keeping its size."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def write_manifest(text: str) -> Callable[[Path], None]:
    return lambda out: (out / "manifest.json").write_text(text)


def change_lines(change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    return lambda out: (out / "log" / CHECKPOINTS).write_text("".join(change(lines(out))))


LAST = "{last}"  # stands for the number of a line appended after the last one

DAMAGED_RUNS = {
    "last line {}": (
        change_lines(lambda t: [*t, "{}\n"]),
        [CHECKPOINTS, f"line {LAST}", "corrupt"],
    ),
    "last line [1,2]": (change_lines(lambda t: [*t, "[1,2]\n"]), [CHECKPOINTS, f"line {LAST}"]),
    "last line null": (change_lines(lambda t: [*t, "null\n"]), [CHECKPOINTS, f"line {LAST}"]),
    "schema-invalid middle line": (
        change_lines(lambda t: [t[0], resigned(t[1], invalid_score), *t[2:]]),
        [CHECKPOINTS, "line 2", "score.", "valid", "boolean"],
    ),
    "checkpoint missing in the middle": (
        change_lines(lambda t: [t[0], *t[2:]]),
        [CHECKPOINTS, "line 2 holds checkpoint 2, expected 1"],
    ),
    "corrupt middle line": (
        change_lines(lambda t: [t[0], t[1].replace('"iteration":1', '"iteration":2'), *t[2:]]),
        [CHECKPOINTS, "line 2 is corrupt"],
    ),
    "middle line without its items": (
        change_lines(lambda t: [t[0], resigned(t[1], lambda body: body.pop("items")), *t[2:]]),
        [CHECKPOINTS, "line 2 is not a valid checkpoint: 'items' is missing"],
    ),
    "line that matches its checksum but is not JSON": (
        change_lines(lambda t: [t[0], _with_checksum("{oops}") + "\n", *t[2:]]),
        [CHECKPOINTS, "line 2 is not JSON"],
    ),
    "vectors file cut": (truncate_vectors, [CHECKPOINTS, "more vectors than the files hold"]),
    "vectors file edited": (
        lambda out: flip_a_byte(out / "log" / "vectors.f32"),
        ["vectors.f32: bytes ", f"{CHECKPOINTS}: line ", "SHA-256 mismatch"],
    ),
    "manifest holding a list": (write_manifest("[1, 2]"), ["manifest.json", "list"]),
    "manifest that is not JSON": (write_manifest('{"status": '), ["manifest.json", "JSON"]),
    "manifest without a fingerprint": (
        write_manifest('{"status": "running"}'),
        ["manifest.json", "fingerprint"],
    ),
    "manifest with a bad source data fingerprint": (
        lambda out: write_manifest(json.dumps({**manifest(out), "source_data": {"x": [1]}}))(out),
        ["manifest.json", "source_data.x"],
    ),
}


@pytest.mark.parametrize("case", DAMAGED_RUNS)
def test_resume_refuses_a_damaged_run_in_one_line(interrupted, capsys, case):
    config, out = interrupted
    damage, names = DAMAGED_RUNS[case]
    last = len(lines(out)) + 1
    damage(out)
    before = {p.name: p.read_bytes() for p in [*out.iterdir(), *(out / "log").iterdir()]
              if p.is_file()}  # fmt: skip
    code, err = cli(capsys, "run", str(config), "--resume", "--quiet")
    assert code == 2
    one_line(err, "emb-opt: error: ", *(n.replace(LAST, str(last)) for n in names))
    after = {p.name: p.read_bytes() for p in [*out.iterdir(), *(out / "log").iterdir()]
             if p.is_file()}  # fmt: skip
    changed = {name for name in before if after.get(name) != before[name]}
    assert changed <= {"manifest.json"}  # the log is left as it was, for a person to look at


@pytest.mark.parametrize("torn", ["{}", "[1,2]", "null", '{"format":2,"sequ'])
def test_resume_drops_a_torn_last_line_and_ends_as_an_uninterrupted_run(
    interrupted, tmp_path, capsys, torn
):
    config, out = interrupted
    with open(out / "log" / CHECKPOINTS, "a") as handle:
        handle.write(torn)  # no newline: a write cut short
    assert cli(capsys, "run", str(config), "--resume", "--quiet") == (0, "")
    assert results(out) == straight_results(config, tmp_path, capsys)


def test_a_version_1_log_with_a_schema_invalid_line_is_one_line(tmp_path, capsys):
    old = shutil.copytree(VERSION_1, tmp_path / "old")
    log_file = old / "out" / "log.json"
    lines = log_file.read_text().splitlines(keepends=True)
    line = json.loads(lines[1])
    key = next(iter(line["score_cache"]))
    line["score_cache"][key]["score"] = "high"
    log_file.write_text("".join([lines[0], json.dumps(line) + "\n", *lines[2:]]))
    code, err = cli(capsys, "run", str(old / "run.yaml"), "--resume", "--quiet")
    assert code == 2
    one_line(err, "log.json: line 2 is not a valid checkpoint", f"score.{key}: score:")


# --- source data changed between runs --------------------------------------------------------


@pytest.fixture
def interrupted_on_files(write_config, tmp_path, monkeypatch, capsys) -> tuple[Path, Path]:
    """A run over `emb.npy` / `meta.jsonl` stopped by Ctrl-C: its config and output directory."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "emb.npy", rng.standard_normal((3000, 16)).astype(np.float32))
    rows = [json.dumps({"rand": float(r)}) + "\n" for r in rng.random(3000)]
    (tmp_path / "meta.jsonl").write_text("".join(rows))
    data = {"kind": "files", "embeddings": "emb.npy", "metadata": "meta.jsonl"}
    return interrupt(write_config(source={"data": data}), tmp_path, monkeypatch, capsys)


def swap_embeddings(out: Path) -> None:
    """Put another embeddings file of the same shape where the run's was."""
    path = out.parent / "emb.npy"
    np.save(path, np.random.default_rng(1).standard_normal(np.load(path).shape).astype(np.float32))


def run_files(out: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "names"),
    [
        (
            lambda out: flip_a_byte(out / "log" / "vectors.f32"),
            ["vectors.f32: bytes ", f"{CHECKPOINTS}: line ", "SHA-256 mismatch"],
        ),
        (
            swap_embeddings,
            ["source.data.embeddings: content changed since the run started (sha256 ",
             "--accept-changed-data"],
        ),
    ],
    ids=["vectors-edited", "embeddings-swapped"],
)  # fmt: skip
def test_resume_refuses_changed_data_and_leaves_the_run_as_it_was(
    interrupted_on_files, damage, names
):
    config, out = interrupted_on_files
    damage(out)
    before = run_files(out / "log")
    code, err = finish(start_run(config, out, "--resume"))
    assert code == 2
    one_line(err, "emb-opt: error: ", *names)
    assert run_files(out / "log") == before


def test_accept_changed_data_continues_and_the_manifest_records_it(interrupted_on_files, capsys):
    config, out = interrupted_on_files
    swap_embeddings(out)
    code, err = cli(capsys, "run", str(config), "--resume", "--quiet", "--accept-changed-data")
    assert (code, err) == (0, "")
    written = manifest(out)
    assert written["status"] == "finished"
    (accepted,) = written["accepted_data_changes"]
    assert accepted["changes"][0].startswith("source.data.embeddings: content changed")
    assert cli(capsys, "run", str(config), "--resume", "--quiet") == (0, "")  # the data as now


def test_a_changed_metadata_file_is_refused_naming_it(interrupted_on_files, capsys):
    config, out = interrupted_on_files
    metadata = out.parent / "meta.jsonl"
    metadata.write_text(metadata.read_text().replace("0.", "0.1", 1))
    code, err = cli(capsys, "run", str(config), "--resume", "--quiet")
    assert code == 2
    one_line(err, "source.data.metadata: size ")


def test_a_run_recorded_before_fingerprints_and_block_checksums_resumes(
    interrupted_on_files, tmp_path, capsys
):
    """A manifest without `source_data` and lines without `blocks` (as older runs wrote)."""
    config, out = interrupted_on_files
    written = manifest(out)
    del written["source_data"]
    (out / "manifest.json").write_text(json.dumps(written))
    change_lines(lambda t: [resigned(line, lambda body: body.pop("blocks")) for line in t])(out)
    assert '"blocks"' not in (out / "log" / CHECKPOINTS).read_text()
    assert cli(capsys, "run", str(config), "--resume", "--quiet") == (0, "")
    assert "source.data.embeddings" in manifest(out)["source_data"]
    assert results(out) == straight_results(config, tmp_path, capsys)


def test_a_changed_collection_is_refused_naming_it(write_config, tmp_path, monkeypatch, capsys):
    lancedb = pytest.importorskip("lancedb")
    database = tmp_path / "lance"
    config = write_config(source={"backend": "lancedb", "path": str(database)})
    config, out = interrupt(config, tmp_path, monkeypatch, capsys)
    table = lancedb.connect(database).open_table("emb_opt_demo")
    table.delete("id >= 2990")
    before, noted = but_the_manifest(out), manifest(out)
    code, err = cli(capsys, "run", str(config), "--resume", "--quiet")
    assert code == 2
    one_line(err, "--resume: refused, the source data changed: ", "collection emb_opt_demo: count ")
    assert but_the_manifest(out) == before
    after = manifest(out)  # notes the refused check (for `status`), nothing else
    checked = after.pop("source_checked")
    assert checked["changes"] and not checked["accepted"]
    for fields in (after, noted):
        fields.pop("updated"), fields.pop("source_checked", None)
    assert after == noted


def but_the_manifest(out: Path) -> dict[str, bytes]:
    return {name: data for name, data in run_files(out).items() if name != str(out / MANIFEST)}
