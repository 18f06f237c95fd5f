"""Every call has a deadline, and one Ctrl-C ends a run whose call is stuck."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from run_processes import finish, results, start_run

from emb_opt.cli.main import main
from emb_opt.log import load_log


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signal_number", "exit_code", "status"),
    [
        (signal.SIGINT, 130, "interrupted: KeyboardInterrupt"),
        (signal.SIGTERM, 143, "interrupted: SIGTERM"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_one_signal_ends_a_run_stuck_in_a_thread_call_and_it_resumes(
    write_config, tmp_path, monkeypatch, signal_number, exit_code, status
):
    config = write_config(
        score={"function": "slow_objective:hang_after_first_call"},
        executor={"kind": "thread", "batch_size": 4},
        stop={"iterations": 4},
    )
    out, stuck = tmp_path / "out", tmp_path / "stuck"
    monkeypatch.setenv("EMB_OPT_TEST_HANG", str(stuck))
    process = start_run(config, out)
    try:
        deadline = time.monotonic() + 60
        while not stuck.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stuck.exists(), "the score function never got stuck"
        process.send_signal(signal_number)  # once
        code, err = finish(process, 30)  # on main, the stuck thread was joined: it never ended
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert code == exit_code, err
    assert f"{status}; continue with --resume" in err
    assert json.loads((out / "manifest.json").read_text())["status"] == status
    assert load_log(out / "log").pending is not None

    monkeypatch.delenv("EMB_OPT_TEST_HANG")
    assert finish(start_run(config, out, "--resume")) == (0, "")
    assert len(results(out)) > 0


@pytest.mark.slow
def test_sigterm_during_a_stuck_http_call_ends_the_run_cleanly(
    write_config, service_module, tmp_path
):
    hanging = service_module.Faults(hang_next=10**6, hang_seconds=3600.0)
    with service_module.ScoringServer(service_module.default_functions(), faults=hanging) as stuck:
        config = write_config(executor={"kind": "http", "url": stuck.url, "retries": 0})
        process = start_run(config, tmp_path / "out")
        try:
            while stuck.requests == 0 and process.poll() is None:
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            code, err = finish(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert code == 143, err
    assert "interrupted: SIGTERM; continue with --resume" in err
    assert "Task was destroyed" not in err and "Traceback" not in err, err


def test_a_serial_executor_refuses_a_timeout(write_config, capsys):
    config = write_config(executor={"kind": "serial", "timeout": 5})
    assert main(["run", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "executor.timeout: a serial executor" in err and "kind: thread" in err


def test_a_thread_timeout_from_the_config_fails_the_stuck_batch(
    write_config, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EMB_OPT_TEST_HANG", str(tmp_path / "stuck"))
    config = write_config(
        score={"function": "slow_objective:hang_after_first_call"},
        executor={"kind": "thread", "timeout": 1},
    )
    assert main(["run", str(config), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "CallTimedOut: timed out after 1 s" in err and "continue with --resume" in err
    status = json.loads((tmp_path / "out" / "manifest.json").read_text())["status"]
    assert "timed out after 1 s" in status
    assert os.path.exists(tmp_path / "stuck")
