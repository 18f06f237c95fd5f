"""Your own score function, your way: a module beside the config, any accepted return shape,
and one line (never "--resume") for a shape that is not."""

from __future__ import annotations

import csv
import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from run_processes import finish, results, start_run
from test_bad_input import cli, manifest, one_line

import emb_opt
from emb_opt.cli.main import main
from emb_opt.config import config_folder_on_path
from emb_opt.log import load_log

ACCEPTED = 'expected a number, None, a dict like {"score": 1.0} or a ScoreResponse'

SCORE_MODULE = """
import numpy as np

from emb_opt.objectives import TargetScore
from emb_opt.schemas import ScoreResponse

CALLS = 0


def score(items):
    global CALLS
    CALLS += 1
    scores = [response.score for response in TargetScore()(items)]
    return {answer}
"""


def project(tmp_path: Path, write_config, answer: str, **blocks) -> Path:
    """A config in `tmp_path/project` whose score function is `myscore:score` beside it,
    returning `answer` (an expression of `items`, `scores` and `CALLS`)."""
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    (folder / "myscore.py").write_text(SCORE_MODULE.format(answer=answer))
    return write_config("project/run.yaml", score={"function": "myscore:score"}, **blocks)


def straight(write_config, tmp_path: Path, capsys) -> list[tuple]:
    """The results of the same run with the built-in `target` score function."""
    config = write_config("straight.yaml", output={"dir": str(tmp_path / "straight")})
    assert cli(capsys, "run", str(config), "--quiet") == (0, "")
    return results(tmp_path / "straight")


@pytest.mark.slow  # a subprocess run
def test_a_score_module_beside_the_config_runs_from_another_directory(
    write_config, tmp_path, capsys
):
    config = project(tmp_path, write_config, "scores")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    output = tmp_path / "out"
    code, stderr = finish(start_run(config, output, cwd=elsewhere))
    assert (code, stderr) == (0, "")
    got, expected = results(output), straight(write_config, tmp_path, capsys)
    assert [row[0] for row in got] == [row[0] for row in expected]
    assert [row[1] for row in got] == pytest.approx([row[1] for row in expected])


@pytest.mark.slow  # starts worker processes
def test_worker_processes_import_the_module_beside_the_config(write_config, tmp_path, capsys):
    answer = "[{'score': s, 'pid': __import__('os').getpid()} for s in scores]"
    executor = {"kind": "process", "concurrency": 2, "batch_size": 4, "start_method": "spawn"}
    config = project(tmp_path, write_config, answer, executor=executor)
    assert cli(capsys, "run", str(config), "--quiet") == (0, "")
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    ]
    assert rows and os.getpid() not in {row["metadata"]["pid"] for row in rows}


def test_a_module_that_is_nowhere_says_where_it_looked(write_config, tmp_path, monkeypatch, capsys):
    (tmp_path / "project").mkdir()
    config = write_config("project/run.yaml", score={"function": "nosuch_scores:score"})
    monkeypatch.chdir(tmp_path)
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert code == 2
    one_line(
        err,
        "emb-opt: error: score.function: cannot import module 'nosuch_scores'",
        f"the config's folder ({tmp_path / 'project'})",
        f"the working directory ({tmp_path})",
        "put nosuch_scores.py beside the config",
        "PYTHONPATH",
    )
    assert not (tmp_path / "out").exists()


def test_each_config_imports_its_own_module_of_the_same_name(write_config, tmp_path, capsys):
    outputs = []
    for name, answer in [("first", "[1.0 for _ in items]"), ("second", "[2.0 for _ in items]")]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "myscore.py").write_text(SCORE_MODULE.format(answer=answer))
        config = write_config(
            f"{name}/run.yaml",
            score={"function": "myscore:score"},
            output={"dir": str(tmp_path / f"out-{name}")},
        )
        assert cli(capsys, "run", str(config), "--quiet") == (0, "")
        outputs.append({row[1] for row in results(tmp_path / f"out-{name}")})
    assert outputs == [{1.0}, {2.0}]


def test_a_run_forgets_only_the_modules_it_imported_from_its_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(emb_opt.__file__).parents[1])  # where emb_opt's own source is
    monkeypatch.delitem(sys.modules, "emb_opt.cli.demo", raising=False)
    (tmp_path / "own_helpers.py").write_text("VALUE = 1\n")
    with config_folder_on_path(tmp_path):
        importlib.import_module("emb_opt.cli.demo")  # first imported during the run
        importlib.import_module("own_helpers")
    assert "emb_opt.cli.demo" in sys.modules and "own_helpers" not in sys.modules
    assert str(tmp_path) not in sys.path


ACCEPTED_SHAPES = {
    "float": "scores",
    "ScoreResponse": "[ScoreResponse(valid=True, score=s) for s in scores]",
    "dict with extra keys": "[{'score': s, 'plate': 'p1'} for s in scores]",
    "numpy float32": "[np.float32(s) for s in scores]",
    "None for some": "[None if i.data['rand'] < 0.3 else s for i, s in zip(items, scores)]",
}


@pytest.mark.parametrize("shape", ACCEPTED_SHAPES)
def test_each_accepted_shape_runs_through_the_cli(write_config, tmp_path, capsys, shape):
    config = project(tmp_path, write_config, ACCEPTED_SHAPES[shape])
    assert cli(capsys, "run", str(config), "--quiet") == (0, "")
    out = tmp_path / "out"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    got = [(row["id"], row["score"], row["iteration"]) for row in rows]
    if shape in ("float", "ScoreResponse", "dict with extra keys"):
        expected = straight(write_config, tmp_path, capsys)
        assert [row[0] for row in got] == [row[0] for row in expected]
        assert [row[1] for row in got] == pytest.approx([row[1] for row in expected])
    assert len(rows) > 10
    if shape == "dict with extra keys":
        assert all(row["metadata"]["plate"] == "p1" for row in rows)
    if shape == "numpy float32":
        assert all(row["score"] == float(np.float32(row["score"])) for row in rows)
    if shape == "None for some":
        valid = [row for row in rows if row["score"] is not None]
        assert all(row["metadata"]["rand"] >= 0.3 for row in valid)
        failed = [row for row in rows if row["score"] is None]
        assert failed and {row["reason"] for row in failed} == {"score function returned None"}
        reasons = [i.internal.removal_reason for i in load_log(out / "log").items.values()]
        assert "score function returned None" in reasons


WRONG_SHAPES = {
    "a string": ("[str(s) for s in scores]", ["response 0 is '", "(str)", ACCEPTED]),
    "a bool": ("[True for s in scores]", ["response 0 is True (a bool is not a score)", ACCEPTED]),
    "a list of the wrong length": ("scores[1:]", ["responses for", "one response per input"]),
    "an int beyond float range": (
        "[10**400 for s in scores]",
        ["response 0 is an int of about 400 digits (beyond the float range)", ACCEPTED],
    ),
}


@pytest.mark.parametrize("case", WRONG_SHAPES)
def test_a_wrong_shape_is_one_line_without_resume_advice(write_config, tmp_path, capsys, case):
    wrong, names = WRONG_SHAPES[case]
    config = project(tmp_path, write_config, f"scores if CALLS < 3 else {wrong}")
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert code == 1
    one_line(err, "emb-opt: search stopped: score function 'score' ", *names)
    assert "--resume" not in err
    out = tmp_path / "out"
    assert manifest(out)["status"].startswith("failed: search stopped: score function 'score'")
    assert load_log(out / "log").counters.iterations == 2  # what finished is kept
    project(tmp_path, write_config, "scores")  # the function fixed, the run continues
    assert cli(capsys, "run", str(config), "--resume", "--quiet") == (0, "")
    assert manifest(out)["status"] == "finished"


def test_a_failing_score_function_still_advises_resume(write_config, tmp_path, capsys):
    config = project(tmp_path, write_config, "scores if CALLS < 3 else 1 / 0")
    code, err = cli(capsys, "run", str(config), "--quiet")
    assert code == 1
    one_line(err, "raised ZeroDivisionError", "; continue with --resume")


def command(capsys, *args: str) -> str:
    """Run `emb-opt ARGS` in this process; what it printed (it must succeed quietly)."""
    code, printed = main(list(args)), capsys.readouterr()
    assert (code, printed.err) == (0, ""), printed.err
    return printed.out.strip()


def test_ask_and_tell_import_a_filter_beside_the_config(
    write_config, tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "myfilter.py").write_text(
        "from emb_opt.schemas import FilterResponse\n\n\n"
        "def cheap(items):\n"
        "    return [FilterResponse(valid=item.data['rand'] < 0.5) for item in items]\n"
    )
    config = write_config(
        "project/run.yaml",
        source={"filter": None},
        score={"function": None, "external": True, "filter_function": "myfilter:cheap"},
        strategy={"update": {"name": "guided", "batch": 8, "initial": 8}, "prune": None},
        output={"dir": "out"},
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = folder / "out"
    for target in (config, run):  # the first ask builds the run; the next reads its manifest
        asked = Path(command(capsys, "ask", str(target)))
        with open(asked) as handle:
            rows = list(csv.DictReader(handle))
        assert rows and all(json.loads(row["metadata"])["rand"] < 0.5 for row in rows)
        for row in rows:
            row["score"] = "0.5"
        with open(asked, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        assert command(capsys, "tell", str(run), str(asked)).endswith("iteration done")


def test_a_failing_plugin_in_ask_is_one_line_without_resume_advice(write_config, tmp_path, capsys):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "badfilter.py").write_text("def keep(items):\n    return 1 / 0\n")
    config = write_config(
        "project/run.yaml",
        score={"function": None, "external": True, "filter_function": "badfilter:keep"},
        strategy={"update": {"name": "guided"}, "prune": None},
    )
    code, err = cli(capsys, "ask", str(config))
    assert code == 1
    one_line(err, "filter function 'keep' raised ZeroDivisionError")
    assert "--resume" not in err  # `emb-opt ask` has no --resume
