"""The run directory's lock: what it takes, what it refuses, and what it says about a
filesystem that cannot give it."""

from __future__ import annotations

import errno
import fcntl
from pathlib import Path

import pytest
from asktell_runs import fill, write
from filelock import FileLock

from emb_opt.cli import lock
from emb_opt.cli.lock import HOLDER, LOCK, is_held, not_shared
from emb_opt.cli.main import main
from emb_opt.log import CHECKPOINTS

NFS3_NOLOCK = (
    "41 27 0:52 / {point} rw,relatime shared:31 - nfs filer:/export/lab "
    "rw,vers=3,rsize=1048576,wsize=1048576,namlen=255,hard,nolock,proto=tcp,timeo=600,"
    "retrans=2,sec=sys,mountaddr=10.0.0.1,mountvers=3,mountproto=tcp,local_lock=all,"
    "addr=10.0.0.1"
)
NFS4 = (
    "42 27 0:53 / {point} rw,relatime shared:32 - nfs4 filer:/export/lab "
    "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,"
    "sec=sys,clientaddr=10.0.0.2,local_lock=none,addr=10.0.0.1"
)
ROOT = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard"


@pytest.fixture
def asked(tmp_path, capsys) -> tuple[Path, Path]:
    """An ask/tell run with a plate out; the run and the plate, scored."""
    config = write(tmp_path, "lab", external=True)
    assert main(["ask", str(config), "--n", "5"]) == 0
    return tmp_path / "lab", fill(Path(capsys.readouterr().out.strip()))


@pytest.mark.parametrize("wait", ["-1", "-0.5", "nan", "inf", "soon"])
def test_a_wait_that_is_not_a_number_of_seconds_is_refused(asked, capsys, wait):
    run, plate = asked
    before = (run / "log" / CHECKPOINTS).read_bytes()
    with pytest.raises(SystemExit) as refused:
        main(["tell", str(run), str(plate), "--wait", wait])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --wait: expected a number of seconds, 0 or more; got '{wait}'" in err
    assert (run / "log" / CHECKPOINTS).read_bytes() == before


def test_a_filesystem_without_locks_is_named(asked, capsys, monkeypatch):
    """flock failing with ENOLCK (NFS without its lock daemon): one line naming the
    directory and saying why, and nothing told."""
    run, plate = asked
    before = (run / "log" / CHECKPOINTS).read_bytes()

    def no_locks(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert main(["tell", str(run), str(plate)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"emb-opt: error: cannot lock {run}: No locks available ([Errno 37]): ")
    assert "its filesystem gives no locks emb-opt can rely on" in line
    assert (run / "log" / CHECKPOINTS).read_bytes() == before
    monkeypatch.undo()
    assert main(["tell", str(run), str(plate)]) == 0


def test_a_lock_file_an_earlier_emb_opt_holds_is_waited_for(asked, capsys):
    run, plate = asked
    with FileLock(run / LOCK):  # how emb_opt took it before it also locked the directory
        assert main(["tell", str(run), str(plate), "--wait", "0"]) == 2
        assert "is in use by" in capsys.readouterr().err
    assert main(["tell", str(run), str(plate), "--wait", "0"]) == 0


def test_probing_the_lock_creates_nothing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert not is_held(run) and list(run.iterdir()) == []
    assert not is_held(tmp_path / "missing") and not (tmp_path / "missing").exists()
    with lock.holding(run, "emb-opt tell", 0):
        (run / LOCK).unlink()  # removed while held: the directory's own lock still holds
        (run / HOLDER).unlink()
        assert is_held(run)
    assert not is_held(run)


def test_a_filesystem_whose_locks_stay_on_one_host_is_named(tmp_path):
    nolock = "\n".join([ROOT, NFS3_NOLOCK.format(point=tmp_path)])
    warning = not_shared(tmp_path / "run", nolock)
    assert warning == (
        f"warning: {tmp_path / 'run'} is on nfs mounted nolock: its lock is not seen from other "
        "hosts; change this run from one host at a time"
    )
    assert not_shared(tmp_path / "run", "\n".join([ROOT, NFS4.format(point=tmp_path)])) is None
    assert not_shared(tmp_path / "run", ROOT) is None
    assert not_shared(tmp_path / "run") is None  # this machine's own: a local disk
