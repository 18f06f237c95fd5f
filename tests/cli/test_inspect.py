"""What `emb-opt inspect` says of a run that cannot be read from its log alone."""

from __future__ import annotations

import json
import time
from pathlib import Path

import slow_objective
from asktell_runs import fill, write

from emb_opt.cli.main import main

DELAY = 0.4


def test_search_seconds_of_an_ask_tell_run_are_its_commands_work(tmp_path, capsys):
    """Each ask and tell adds the time it worked (filtering, choosing, writing), not the
    time its items waited for scores outside."""
    slow = {"name": "slow_objective:SlowFilter", "delay": DELAY}
    config = write(tmp_path, "lab", external=True, filter_function=slow)
    run, worked = tmp_path / "lab", 0.0
    slow_objective.FILTER_CALLS.clear()

    def command(*args: str) -> str:
        nonlocal worked
        began = time.perf_counter()
        assert main(list(args)) == 0
        worked += time.perf_counter() - began
        return capsys.readouterr().out.strip()

    for round in range(2):
        asked = Path(command("ask", str(config if round == 0 else run)))
        time.sleep(1.0)  # the scores take their time outside
        command("tell", str(run), str(fill(asked)))
    seconds = json.loads((run / "manifest.json").read_text())["search_seconds"]
    assert len(slow_objective.FILTER_CALLS) >= 2
    assert DELAY * len(slow_objective.FILTER_CALLS) <= seconds <= worked
    assert main(["inspect", str(run)]) == 0
    assert f"search seconds  {seconds:.2f}\n" in capsys.readouterr().out


def test_status_of_a_run_directory_points_to_inspect(write_config, tmp_path, capsys):
    assert main(["run", str(write_config(stop={"iterations": 2})), "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["status", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is the directory of an `emb-opt run`" in err
    assert f"see it with `emb-opt inspect {out}`" in err


def test_inspect_says_which_stored_fields_the_model_reads(write_config, tmp_path, capsys):
    config = write_config(
        score={"function": {"name": "slow_objective:SlowStored", "delay": 0}},
        strategy={"update": {"name": "guided", "batch": 20, "initial": 20, "features": 64}},
        stop={"iterations": 6},
    )
    run = tmp_path / "run"
    assert main(["run", str(config), "--output", str(run)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(run)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "model reads" in line]
    assert "embedding + rand (held-out top-k precision" in line
    assert "embedding alone" in line and "scored)" in line
