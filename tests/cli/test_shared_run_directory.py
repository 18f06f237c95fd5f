"""A run directory a team shares: commands that change it take turns (a lock naming its
holder), `status` only reads, a run gets more budget, `tell --proceed` confirms an end."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from asktell_runs import fill, write
from pause_at import PAUSED
from run_processes import finish, results, start_command, start_run

from emb_opt.cli.lock import HOLDER, LOCK, holding
from emb_opt.cli.main import main
from emb_opt.config import fingerprint
from emb_opt.log import CHECKPOINTS

TELLERS, ROUNDS = 4, 3
REMOVALS = 20  # rounds of the lock files removed mid-tell


def ask(target: Path, capsys, *args: str) -> str:
    assert main(["ask", str(target), *args]) == 0
    return capsys.readouterr().out.strip()


def told(filled: Path) -> dict[str, float]:
    with open(filled) as handle:
        return {row["id"]: float(row["score"]) for row in csv.DictReader(handle)}


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def run_all(*commands: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """Start every command at once; (exit code, stdout, stderr) of each."""
    processes = [start_command(*command) for command in commands]
    try:
        return [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.mark.slow
def test_tellers_of_one_iteration_at_the_same_moment_lose_no_score(tmp_path, capsys):
    """Run 20 times in a row: `for i in $(seq 20); do pytest -k tellers || break; done`."""
    config = write(tmp_path, "lab", external=True)
    run, scores, target = tmp_path / "lab", {}, config
    for round in range(ROUNDS):
        plates = []
        while (said := ask(target, capsys, "--n", "3")).endswith(".csv"):
            plates.append(fill(Path(said)))
            target = run
        assert len(plates) >= 2
        for plate in plates:
            scores.update(told(plate))
        tells = [("tell", str(run), str(plate), "--wait", "600") for plate in plates]
        outcomes = run_all(*tells)  # a busy machine may take long: no test of time
        assert [code for code, _, _ in outcomes] == [0] * len(plates), outcomes
        assert sum("iteration done" in out for _, out, _ in outcomes) == 1
        assert main(["status", str(run)]) == 0
        status = capsys.readouterr().out
        assert f"iteration    {round + 1}" in status and "waiting      0" in status
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert sorted(str(row["id"]) for row in rows) == sorted(scores)  # each once
    assert {str(row["id"]): row["score"] for row in rows} == pytest.approx(scores)


@pytest.mark.slow
def test_removing_the_lock_files_mid_tell_lets_no_second_teller_in(tmp_path, capsys):
    """A "stale lock" clean-up while a tell holds the lock, then another tell, 20 times: the
    second waits for the first; both tell, and every score is in the run once."""
    config = write(tmp_path, "lab", external=True)
    config.write_text(config.read_text().replace("iterations: 10", f"iterations: {REMOVALS}"))
    run, scores, target = tmp_path / "lab", {}, config
    for round in range(REMOVALS):
        first, second = (fill(Path(ask(target, capsys, "--n", "6"))) for _ in range(2))
        target = run
        scores.update(told(first) | told(second))
        holder = start_command(
            "checkpoints.jsonl", str(run), "tell", str(run), str(first), "--wait", "600",
            module="pause_at", stdin=subprocess.PIPE,
        )  # fmt: skip
        teller = None
        try:
            assert holder.stderr.readline().strip() == PAUSED  # mid-tell, holding the lock
            for name in (LOCK, HOLDER):
                (run / name).unlink()
            teller = start_command("tell", str(run), str(second), "--wait", "600")
            waited = teller.stderr.readline()  # it says so once it waits: no time involved
            assert waited.startswith(f"emb-opt: waiting for {run}, held by "), (
                waited + teller.communicate()[1]
            )
            out, err = holder.communicate("go on\n", timeout=120)
            assert (holder.returncode, out) == (0, "told 6 score(s); 6 item(s) still waiting\n")
            out, err = teller.communicate(timeout=120)
            assert (teller.returncode, out) == (0, "told 6 score(s); iteration done\n"), err
        finally:
            for process in (holder, teller):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.communicate()
        assert main(["status", str(run)]) == 0
        status = capsys.readouterr().out
        assert f"iteration    {round + 1}" in status and "waiting      0" in status
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert sorted(str(row["id"]) for row in rows) == sorted(scores)  # each once
    assert {str(row["id"]): row["score"] for row in rows} == pytest.approx(scores)


@pytest.mark.slow
def test_two_asks_at_the_same_moment_hand_out_two_plates(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    assert main(["tell", str(run), str(fill(Path(ask(config, capsys))))]) == 0
    capsys.readouterr()
    outcomes = run_all(*[("ask", str(run), "--n", "6", "--wait", "600")] * 2)
    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    plates = [Path(out.strip()) for _, out, _ in outcomes]
    assert plates[0] != plates[1]
    ids = [set(told(fill(plate))) for plate in plates]
    assert len(ids[0]) == len(ids[1]) == 6 and not ids[0] & ids[1]
    assert main(["status", str(run)]) == 0
    assert "not out yet  0" in capsys.readouterr().out


@pytest.mark.slow
def test_a_second_run_of_a_running_directory_is_refused_and_a_killed_ones_lock_taken_over(
    write_config, tmp_path, monkeypatch
):
    config = write_config(
        score={"function": {"name": "slow_objective:SlowTarget", "delay": 0.1}},
        stop={"iterations": 8},
    )
    out = tmp_path / "out"
    monkeypatch.setenv("EMB_OPT_TEST_HOLD_AFTER", "3")  # the first run stays in its 4th call
    first = start_run(config, out)
    monkeypatch.delenv("EMB_OPT_TEST_HOLD_AFTER")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until 2 iterations are checkpointed
            log_file = out / "log" / CHECKPOINTS
            if log_file.exists() and len(log_file.read_text().splitlines()) >= 3:
                break
            time.sleep(0.02)
        code, err = finish(start_run(config, out, "--resume"))
        waited, gave_up = err.splitlines()
        assert code == 2 and waited.startswith(f"emb-opt: waiting for {out}, held by pid ")
        assert f"is in use by pid {first.pid} on " in gave_up
        assert "(emb-opt run, since" in gave_up
        first.send_signal(signal.SIGKILL)
    finally:
        finish(first, 30)
    assert (out / HOLDER).exists()  # the dead holder's note stays; its lock went with it
    assert manifest(out)["status"] == "running"
    assert finish(start_run(config, out, "--resume")) == (0, "")
    assert not (out / HOLDER).exists()
    straight = tmp_path / "straight"
    assert finish(start_run(config, straight))[0] == 0
    assert results(out) == results(straight)


def test_a_command_waits_for_the_lock_a_bounded_time_then_names_the_holder(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    filled = fill(Path(ask(config, capsys)))
    before = (run / "log" / CHECKPOINTS).read_bytes()
    with holding(run, "emb-opt ask", 0):
        assert main(["tell", str(run), str(filled), "--wait", "0.3"]) == 2
        waited, gave_up = capsys.readouterr().err.splitlines()
        assert waited.startswith(f"emb-opt: waiting for {run}, held by pid {os.getpid()} on ")
        assert f"is in use by pid {os.getpid()}" in gave_up
        assert "(emb-opt ask, since " in gave_up and "after waiting 0.3 s" in gave_up
        assert main(["status", str(run)]) == 0  # status takes no lock
        assert "waiting      12" in capsys.readouterr().out
    assert (run / "log" / CHECKPOINTS).read_bytes() == before
    assert main(["tell", str(run), str(filled)]) == 0


def test_a_waiting_command_says_once_whom_it_waits_for(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    filled = fill(Path(ask(config, capsys)))
    with holding(run, "emb-opt tell", 0):
        teller = start_command("tell", str(run), str(filled), "--wait", "1")
        code, err = finish(teller)
    assert code == 2, err
    waited, gave_up = err.splitlines()  # one line on waiting, one on giving up
    assert waited.startswith(f"emb-opt: waiting for {run}, held by pid {os.getpid()} on ")
    assert "(emb-opt tell, " in waited and waited.endswith("; giving up after 1 s (--wait)")
    assert gave_up.startswith("emb-opt: error: ") and "gave up after waiting 1 s" in gave_up
    assert main(["tell", str(run), str(filled), "--wait", "1"]) == 0
    assert "waiting for" not in capsys.readouterr().err  # nobody held it: not a word


def test_status_only_reads_and_a_stopped_search_leaves_its_manifest_finished(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    config.write_text(config.read_text().replace("iterations: 10", "iterations: 1"))
    run = tmp_path / "lab"
    assert main(["tell", str(run), str(fill(Path(ask(config, capsys))))]) == 0
    assert "iteration done" in capsys.readouterr().out
    finished = manifest(run)
    assert finished["status"] == "finished" and finished["stopped"] == "1 iterations done"
    files = {path: path.stat().st_mtime_ns for path in run.rglob("*")}
    assert main(["status", str(run)]) == 0
    assert "stopped      1 iterations done" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in run.rglob("*")} == files
    assert manifest(run) == finished


@pytest.mark.parametrize("command", ["status", "tell"])
def test_status_and_tell_want_a_run_directory_and_create_nothing(tmp_path, capsys, command):
    config = write(tmp_path, "lab", external=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (config, empty, tmp_path / "missing"):
        assert main([command, str(target), *(["--proceed"] if command == "tell" else [])]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and str(target) in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "lab.yaml"]
    assert not any(empty.iterdir())


def test_a_refused_run_or_ask_leaves_no_lock_behind(write_config, tmp_path, capsys):
    missing, foreign = tmp_path / "missing", tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    config = write_config()
    assert main(["run", str(config), "--output", str(missing), "--resume", "--quiet"]) == 2
    assert "holds no run to resume" in capsys.readouterr().err
    assert main(["run", str(config), "--output", str(foreign), "--quiet"]) == 2
    assert "not empty and holds no emb_opt run" in capsys.readouterr().err
    assert not missing.exists() and [p.name for p in foreign.iterdir()] == ["notes.txt"]
    unopenable = write(tmp_path, "lab", external=True)
    unopenable.write_text(unopenable.read_text().replace("kind: synthetic", "kind: files"))
    assert main(["ask", str(unopenable)]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert not (tmp_path / "lab").exists()


def test_proceed_that_gives_up_a_whole_iteration_needs_yes(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    ask(config, capsys, "--n", "5")
    before = {path: path.read_bytes() for path in (run / "log").iterdir()}
    assert main(["tell", str(run), "--proceed"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "--proceed would give up all 12 item(s) of iteration 0, none scored" in err
    assert "nothing was changed; add --yes" in err
    assert {path: path.read_bytes() for path in (run / "log").iterdir()} == before
    assert main(["tell", str(run), "--proceed", "--yes"]) == 0
    assert "gave up 12 item(s)" in capsys.readouterr().out


def test_proceed_that_ends_the_search_needs_yes(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    config.write_text(config.read_text().replace("iterations: 10", "iterations: 1"))
    run = tmp_path / "lab"
    filled = fill(Path(ask(config, capsys, "--n", "5")))
    assert main(["tell", str(run), str(filled), "--proceed"]) == 2
    err = capsys.readouterr().err
    assert "--proceed would end the search (1 iterations done); nothing was changed" in err
    assert main(["status", str(run)]) == 0
    assert "waiting      12" in capsys.readouterr().out  # not even the 5 scores were told
    assert main(["tell", str(run), str(filled), "--proceed", "--yes"]) == 0
    assert "told 5 score(s); gave up 7 item(s)" in capsys.readouterr().out
    assert manifest(run)["status"] == "finished"


def test_a_finished_run_gets_more_budget_and_other_changes_are_named(write_config, capsys):
    config = write_config(stop={"iterations": 6, "max_score_calls": 40})
    out = config.parent / "out"
    assert main(["run", str(config), "--quiet"]) == 0
    first = manifest(out)
    assert first["stopped"].startswith("score budget")  # the budget ended it
    raised = write_config(stop={"iterations": 6, "max_score_calls": 80})
    assert main(["run", str(raised), "--resume", "--quiet"]) == 0
    capsys.readouterr()
    extended = manifest(out)
    assert extended["counters"]["score_calls"] > first["counters"]["score_calls"]
    assert extended["status"] == "finished"
    assert extended["stop_changes"] == [
        {
            "at_iteration": first["counters"]["iterations"],
            "stop_before": {"iterations": 6, "max_score_calls": 40},
            "stop_after": {"iterations": 6, "max_score_calls": 80},
        }
    ]
    other = write_config(source={"k": 6}, stop={"iterations": 6, "max_score_calls": 80})
    assert main(["run", str(other), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "differs in source.k (only the stop and executor blocks may change)" in err
    assert manifest(out)["counters"] == extended["counters"]


def test_a_manifest_of_the_whole_config_still_resumes(write_config, capsys):
    config = write_config(stop={"iterations": 3})
    out = config.parent / "out"
    assert main(["run", str(config), "--quiet"]) == 0
    old = {**manifest(out), "fingerprint": fingerprint(yaml.safe_load(config.read_text()))}
    (out / "manifest.json").write_text(json.dumps(old))  # as emb_opt wrote it before
    assert main(["run", str(write_config(stop={"iterations": 5})), "--resume", "--quiet"]) == 0
    assert manifest(out)["counters"]["iterations"] == 5


@pytest.mark.slow
def test_an_ask_tell_run_goes_on_with_a_changed_stop_block(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    config.write_text(config.read_text().replace("iterations: 10", "iterations: 1"))
    run = tmp_path / "lab"
    assert main(["tell", str(run), str(fill(Path(ask(config, capsys))))]) == 0
    capsys.readouterr()
    assert ask(run, capsys).startswith("the search has stopped: 1 iterations done")
    config.write_text(config.read_text().replace("iterations: 1", "iterations: 2"))
    plate = Path(ask(config, capsys))  # the changed config goes on, into the run directory
    assert plate.name == "iteration-1-0.csv"
    assert "iterations: 2" in (run / "config.yaml").read_text()
    assert main(["tell", str(run), str(fill(plate))]) == 0
    capsys.readouterr()
    ended = manifest(run)
    assert ended["status"] == "finished" and ended["stopped"] == "2 iterations done"
    assert [change["at_iteration"] for change in ended["stop_changes"]] == [1]
    edited = (run / "config.yaml").read_text().replace("seed: 3", "seed: 4")
    (run / "config.yaml").write_text(edited)
    assert main(["ask", str(run)]) == 2
    err = capsys.readouterr().err
    assert "differs in seed (only the stop and executor blocks may change)" in err
