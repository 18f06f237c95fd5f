"""`tell` and `ask` killed just before each change they make to the run directory: the run is
as it was before the command or as after it, never between, and running it again completes
it, to the run an uninterrupted command leaves."""

from __future__ import annotations

import shutil
from itertools import count
from pathlib import Path

import pytest
from asktell_runs import fill, write
from die_at import KILLED
from run_processes import finish, start_command

from emb_opt.cli.main import main


def say(capsys, *args: str) -> str:
    """What `emb-opt ARGS` prints (it must succeed)."""
    assert main(list(args)) == 0
    return capsys.readouterr().out.strip()


def status_of(capsys, run: Path) -> str:
    """What `emb-opt status RUN` says of the run, but for when its source was last checked
    (a time, which differs between two ways of reaching one state)."""
    lines = say(capsys, "status", str(run)).splitlines()
    return "\n".join(line for line in lines if not line.startswith("source "))


def ids(plate: Path) -> list[str]:
    return [line.split(",")[0] for line in plate.read_text().splitlines()[1:]]


@pytest.fixture
def half_told(tmp_path, capsys) -> tuple[Path, Path, Path]:
    """A run with two plates of iteration 0 out, the first told; a copy of it; the second
    plate, scored."""
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    first = Path(say(capsys, "ask", str(config), "--n", "5"))
    second = Path(say(capsys, "ask", str(run), "--n", "5"))
    say(capsys, "tell", str(run), str(fill(first)))
    scored = fill(second).rename(tmp_path / "second-scored.csv")
    return run, shutil.copytree(run, tmp_path / "before"), scored


def kill_at_every_change(run: Path, before: Path, *args: str):
    """Run `emb-opt ARGS` on a fresh copy of `before` in `run`, killed just before its 1st,
    2nd, ... change; yield after each kill; stop when it completes without one."""
    for n in count(1):
        shutil.rmtree(run)
        shutil.copytree(before, run)
        code, err = finish(start_command(str(n), str(run), *args, module="die_at"))
        if code != KILLED:
            assert code == 0, err
            assert n > 5  # it was killed at every change it makes (a lock, a log, outputs)
            return
        yield n


@pytest.mark.slow
def test_a_tell_killed_before_any_change_leaves_the_run_before_or_after(half_told, capsys):
    run, before, scored = half_told
    status_before = status_of(capsys, run)
    assert "waiting      7" in status_before
    told = say(capsys, "tell", str(run), str(scored))
    status_after = status_of(capsys, run)
    next_plate = ids(Path(say(capsys, "ask", str(run))))
    seen = set()
    for _ in kill_at_every_change(run, before, "tell", str(run), str(scored)):
        status = status_of(capsys, run)
        assert status in (status_before, status_after)
        seen.add(status == status_after)
        if status == status_before:
            assert say(capsys, "tell", str(run), str(scored)) == told  # completes it
        assert status_of(capsys, run) == status_after
        assert ids(Path(say(capsys, "ask", str(run)))) == next_plate
    assert seen == {False, True}  # some kills came before its commit point, some after


@pytest.mark.slow
def test_an_ask_killed_before_any_change_hands_out_its_plate_once(half_told, capsys):
    run, before, _ = half_told
    status_before = status_of(capsys, run)
    plate = Path(say(capsys, "ask", str(run), "--n", "1"))
    status_after = status_of(capsys, run)
    for _ in kill_at_every_change(run, before, "ask", str(run), "--n", "1"):
        plates = {path: path.read_bytes() for path in (run / "ask").iterdir()}
        status = status_of(capsys, run)
        assert status in (status_before, status_after)
        if status == status_before:
            again = Path(say(capsys, "ask", str(run), "--n", "1"))
            assert ids(again) == ids(plate)
            assert again not in plates  # a plate file a killed ask left is never overwritten
            assert status_of(capsys, run).replace(again.name, plate.name) == (status_after)
        assert all(path.read_bytes() == text for path, text in plates.items())
