"""A run killed with SIGKILL mid-iteration resumes to the results of an uninterrupted run."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from run_processes import assert_same_results, finish, results, start_run

from emb_opt.cli.inspect_run import model_reads
from emb_opt.cli.main import main
from emb_opt.config.registry import STRATEGIES
from emb_opt.log import load_log

# Every registered strategy, as a config's `strategy.update` block (plus a nested `restarts`).
UPDATE_BLOCKS = {
    "rl": {"name": "rl", "lrs": [0.25, 1.0]},
    "topk_discrete": {"name": "topk_discrete", "k": 4},
    "topk_continuous": {"name": "topk_continuous", "k": 3},
    "line_search": {"name": "line_search"},
    "surrogate": {"name": "surrogate"},
    "evolution": {"name": "evolution"},
    "restarts": {"name": "restarts", "update": {"name": "surrogate", "share": False}},
    "guided": {"name": "guided", "batch": 10, "initial": 20, "features": 64},
    # the score is a stored field: `fields: auto` (the default) chooses to read it
    "guided, stored fields": {"name": "guided", "batch": 20, "initial": 20, "features": 64},
}
SCORES = {"guided, stored fields": "slow_objective:SlowStored"}


def test_every_registered_strategy_has_a_resume_case():
    assert set(STRATEGIES) <= set(UPDATE_BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", list(UPDATE_BLOCKS))
def test_sigkill_then_resume_equals_an_uninterrupted_run(write_config, tmp_path, strategy):
    config = write_config(
        score={
            "function": {"name": SCORES.get(strategy, "slow_objective:SlowTarget"), "delay": 0.1}
        },
        strategy={"update": UPDATE_BLOCKS[strategy], "prune": None},
        stop={"iterations": 8},
    )
    killed = tmp_path / "killed"
    process = start_run(config, killed)
    log_file = killed / "log" / "checkpoints.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until 3 iterations are checkpointed
        if log_file.exists() and len(log_file.read_text().splitlines()) >= 4:
            break
        time.sleep(0.02)
    time.sleep(0.05)  # now inside the 4th iteration's score call
    process.send_signal(signal.SIGKILL)
    assert finish(process, 30)[0] == -signal.SIGKILL

    interrupted = load_log(killed / "log")
    assert 3 <= interrupted.counters.iterations < 8  # nothing finished was lost
    assert interrupted.pending is not None
    assert json.loads((killed / "manifest.json").read_text())["status"] == "running"

    code, stderr = finish(start_run(config, killed, "--resume"))
    assert code == 0, stderr
    straight = tmp_path / "straight"
    assert finish(start_run(config, straight))[0] == 0

    assert results(killed) == results(straight)
    finished = [json.loads((d / "manifest.json").read_text()) for d in (killed, straight)]
    assert finished[0]["counters"] == finished[1]["counters"]
    if strategy in SCORES:
        reads = model_reads(load_log(killed / "log").strategy_state)
        assert reads is not None and reads.startswith("embedding + rand ")


VERSION_1 = Path(__file__).parent / "data" / "version1"


def one_bit_off(log_file: Path) -> int:
    """Move every stored score one unit in the last place, as another machine's arithmetic
    may leave it; how many were moved."""
    pattern = re.compile(r'"score": (-?[0-9][0-9.e+-]*)')

    def moved(found: re.Match) -> str:
        return f'"score": {float(np.nextafter(float(found.group(1)), np.inf))!r}'

    text, count = pattern.subn(moved, log_file.read_text())
    log_file.write_text(text)
    return count


@pytest.mark.slow
@pytest.mark.parametrize("written_here", [True, False], ids=["as-stored", "one-bit-off"])
def test_a_version_1_run_resumes_exactly_and_continues_in_the_log_directory(tmp_path, written_here):
    """A run an older emb_opt wrote (one log.json, cut after 3 of 6 iterations) resumes and
    ends with the results of an uninterrupted run; its log becomes a log directory. The stored
    scores were computed on another machine: ids must match exactly, scores to 1e-12."""
    old = shutil.copytree(VERSION_1, tmp_path / "old")
    if not written_here:
        assert one_bit_off(old / "out" / "log.json") > 0
    assert load_log(old / "out" / "log.json").counters.iterations == 3
    assert main(["run", str(old / "run.yaml"), "--resume", "--quiet"]) == 0
    assert not (old / "out" / "log.json").exists()
    assert load_log(old / "out" / "log").counters.iterations == 6
    fresh = tmp_path / "fresh"
    assert main(["run", str(old / "run.yaml"), "--output", str(fresh), "--quiet"]) == 0
    assert_same_results(results(old / "out"), results(fresh))
