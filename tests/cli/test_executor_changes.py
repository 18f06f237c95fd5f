"""The `executor` block may change between a run's commands (a longer timeout, another
scoring service, more workers): `run --resume` and `ask CONFIG` go on and the manifest
records the change; what is called, the `score` block, may not change."""

from __future__ import annotations

import json
from pathlib import Path

from asktell_runs import fill, write

from emb_opt.cli.main import main


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_a_run_stopped_by_its_timeout_resumes_with_a_longer_one_at_another_service(
    write_config, service_module, tmp_path, capsys
):
    functions = service_module.default_functions()
    hanging = service_module.Faults(hang_next=10**6, hang_seconds=5.0)  # longer than timeout
    with (
        service_module.ScoringServer(functions, faults=hanging) as stuck,
        service_module.ScoringServer(functions) as other,
    ):
        short = {"kind": "http", "url": stuck.url, "timeout": 0.5, "retries": 0}
        assert main(["run", str(write_config(executor=short)), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "timed out after 0.5 s" in err
        assert "continue with --resume, with a longer executor.timeout if calls need it" in err
        longer = {**short, "url": other.url, "timeout": 60}
        resumed = write_config(executor=longer)
        assert main(["run", str(resumed), "--resume", "--quiet"]) == 0, capsys.readouterr().err
        assert other.requests > 0
        renamed = write_config(
            "renamed.yaml", executor=longer, score={"function": "slow_objective:SlowTarget"}
        )
        assert main(["run", str(renamed), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "differs in score.function (only the stop and executor blocks may change)" in err
    run = manifest(tmp_path / "out")
    assert run["status"] == "finished" and run["counters"]["iterations"] == 6
    assert run["config"]["executor"] == longer
    assert run["executor_changes"] == [
        {"at_iteration": 0, "executor_before": short, "executor_after": longer}
    ]
    assert "stop_changes" not in run


def test_ask_config_goes_on_with_a_changed_executor_block(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    threads = {"kind": "thread", "concurrency": 2, "timeout": 5}
    text = config.read_text() + "executor: {kind: thread, concurrency: 2, timeout: 5}\n"
    config.write_text(text)
    assert main(["ask", str(config)]) == 0
    plate = Path(capsys.readouterr().out.strip())
    assert main(["tell", str(run), str(fill(plate))]) == 0
    more = {"kind": "thread", "concurrency": 4, "timeout": 50}
    config.write_text(text.replace("concurrency: 2, timeout: 5", "concurrency: 4, timeout: 50"))
    capsys.readouterr()
    assert main(["ask", str(config)]) == 0, capsys.readouterr().err
    assert Path(capsys.readouterr().out.strip()).name == "iteration-1-0.csv"
    assert "timeout: 50" in (run / "config.yaml").read_text()
    assert manifest(run)["executor_changes"] == [
        {"at_iteration": 1, "executor_before": threads, "executor_after": more}
    ]
    minimize = "{external: true, direction: minimize}"
    config.write_text(config.read_text().replace("external: true", minimize))
    assert main(["ask", str(config)]) == 2
    err = capsys.readouterr().err
    assert "differs in score.direction (only the stop and executor blocks may change)" in err
