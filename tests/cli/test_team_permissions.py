"""A run directory a team shares across Unix accounts: what a command creates there has the
mode the umask gives (0o666 / 0o777 less it), so with umask 022 a teammate reads the run and
with 002 and a shared group also tells scores."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from asktell_runs import fill, write
from run_processes import HERE

from emb_opt.cli.main import main

NOT_ROOT = "a second Unix account (useradd, runuser) needs root"


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore this process's umask after a test sets it."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any account may enter (pytest's tmp_path is its owner's only)."""
    directory = Path(tempfile.mkdtemp(prefix="emb_opt_team-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[str, list[str]]]:
    """(group, [user, user]): two Unix accounts made for this test module in a group of
    their own, all removed afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip(NOT_ROOT)
    group, users = f"emboptlab{os.getpid()}", [f"emboptmate{i}{os.getpid()}" for i in (1, 2)]
    subprocess.run(["groupadd", group], check=True)
    made = []
    try:
        for user in users:
            shell = ("--shell", "/usr/sbin/nologin")
            subprocess.run(
                ["useradd", "--no-create-home", "--gid", group, *shell, user], check=True
            )
            made.append(user)
        yield group, users
    finally:
        for user in made:
            subprocess.run(["userdel", user], check=True)
        subprocess.run(["groupdel", group], check=True)


def as_teammate(user: str, umask: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`emb-opt ARGS...` run as `user` with `umask`."""
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(
        [sys.executable, str(HERE / "as_user.py"), user, umask, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def modes(run: Path) -> dict[str, str]:
    """Every file and directory of `run` with its permission bits (octal)."""
    return {
        str(path.relative_to(run)): oct(stat.S_IMODE(path.stat().st_mode))
        for path in [run, *run.rglob("*")]
    }


def test_everything_a_run_directory_gets_has_the_umasks_mode(tmp_path, capsys, umask):
    os.umask(0o002)
    config = write(tmp_path, "lab", external=True)
    run = tmp_path / "lab"
    plate = Path(main(["ask", str(config)]) or capsys.readouterr().out.strip())
    assert main(["tell", str(run), str(fill(plate))]) == 0
    found = modes(run)
    assert {"manifest.json", ".emb-opt.lock", "ask/iteration-0-0.csv", "results.parquet"} <= set(
        found
    )
    wrong = {
        name: mode
        for name, mode in found.items()
        if mode != oct(0o775 if (run / name).is_dir() else 0o664)
    }
    assert not wrong, wrong


def test_a_teammate_reads_a_run_made_with_umask_022(shared_dir, lab, capsys, umask):
    user = lab[1][0]
    os.umask(0o022)
    config = write(shared_dir, "lab", external=True)
    run = shared_dir / "lab"
    assert main(["ask", str(config)]) == 0
    plate = Path(capsys.readouterr().out.strip())
    unreadable = subprocess.run(
        ["runuser", "-u", user, "--", "find", str(run), "!", "-readable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert unreadable == ""
    read = subprocess.run(["runuser", "-u", user, "--", "cat", str(plate)], capture_output=True)
    assert read.returncode == 0 and read.stdout == plate.read_bytes()
    status = as_teammate(user, "022", "status", str(run))
    assert status.returncode == 0, status.stderr
    assert "waiting      12" in status.stdout


def test_teammates_in_the_group_take_turns_with_umask_002(shared_dir, lab, capsys, umask):
    group, (first, second) = lab
    os.umask(0o002)
    campaign = shared_dir / "campaign"  # as a lab sets it up: its group, kept on new files
    campaign.mkdir()
    shutil.chown(campaign, group=group)
    campaign.chmod(0o2775)
    config = write(campaign, "lab", external=True)
    run = campaign / "lab"
    assert main(["ask", str(config), "--n", "5"]) == 0  # the run starts (as root)
    plate = fill(Path(capsys.readouterr().out.strip()))
    told = as_teammate(second, "002", "tell", str(run), str(plate))
    assert told.returncode == 0, told.stderr
    assert told.stdout.startswith("told 5 score(s)")
    assert (run / "manifest.json").stat().st_uid == pwd.getpwnam(second).pw_uid
    asked = as_teammate(first, "002", "ask", str(run))
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip().endswith("iteration-0-1.csv")
    assert main(["status", str(run)]) == 0
    assert "waiting      7" in capsys.readouterr().out  # 12 asked, 5 told
    assert {path.stat().st_gid for path in run.rglob("*")} == {grp.getgrnam(group).gr_gid}
