"""A run killed before its first checkpoint (at any change it makes to its directory: the
lock, its note, the manifest half written, the log directory, a state file) leaves a
directory that counts as fresh: the same command starts it again, and every command that
cannot go on names the one that does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from asktell_runs import write
from die_at import KILLED
from run_processes import finish, results, start_command

from emb_opt.cli.main import main
from emb_opt.cli.rundir import RunDirectory


def killed_before_the_first_checkpoint(run: Path, *args: str) -> Iterator[list[str]]:
    """Run `emb-opt ARGS`, writing `run`, killed just before its 1st, 2nd, ... change there;
    yield the files each kill left, as long as it left no checkpoint."""
    for n in count(1):
        shutil.rmtree(run, ignore_errors=True)
        code, err = finish(start_command(str(n), str(run.parent), *args, module="die_at"))
        assert code == KILLED, err
        if RunDirectory(run).has_log():
            assert n > 8, n  # the lock, its note, the manifest, the log: each was a kill point
            return
        yield sorted(str(path.relative_to(run)) for path in run.rglob("*"))


def ids(plate: Path) -> list[str]:
    return [line.split(",")[0] for line in plate.read_text().splitlines()[1:]]


@pytest.mark.slow
def test_an_ask_killed_before_its_first_checkpoint_starts_again(tmp_path, capsys):
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    assert main(["ask", str(config)]) == 0
    plate = ids(Path(capsys.readouterr().out.strip()))  # what an uninterrupted ask hands out
    left = []
    for files in killed_before_the_first_checkpoint(run, "ask", str(config)):
        left.append(files)
        for command in ("status", "ask", "tell"):
            assert main([command, str(run), *(["--proceed"] if command == "tell" else [])]) == 2
            err = capsys.readouterr().err
            assert f"{run} holds no ask/tell run (" in err
            assert "; start it with `emb-opt ask " in err
        assert main(["ask", str(config)]) == 0  # the one command that goes on
        assert ids(Path(capsys.readouterr().out.strip())) == plate
        assert not list(run.glob("*.tmp")) and not list(run.glob("log/.*.tmp"))
        assert main(["status", str(run)]) == 0
        assert "not out yet  0" in capsys.readouterr().out
    assert any("manifest.json" in files for files in left)  # killed after its first manifest
    assert any(name.endswith(".tmp") for files in left for name in files)  # and during one


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_starts_again(write_config, tmp_path, capsys):
    config = write_config(stop={"iterations": 3})
    out = tmp_path / "out"
    straight = tmp_path / "straight"
    assert main(["run", str(config), "--output", str(straight), "--quiet"]) == 0
    left = []
    for files in killed_before_the_first_checkpoint(out, "run", str(config), "--quiet"):
        left.append(files)
        assert main(["run", str(config), "--resume", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "holds no run to resume (no checkpoint); run the same command without --resume" in (
            err
        )
        assert main(["run", str(config), "--quiet"]) == 0
        assert results(out) == results(straight)
        assert not list(out.glob("*.tmp"))
    capsys.readouterr()
    assert any("manifest.json" in files for files in left)
    assert any(name.endswith(".tmp") for files in left for name in files)
