"""Engines shared by the adapter tests, each started once per test run and stopped by pid."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engines import ChromaServer, MilvusStandalone, container_url


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A `chroma run` server (Chroma's Rust server) on a free port."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data").start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusStandalone]:
    """The real Milvus 2.3.5 standalone server (PyPI `milvus`), started once per run."""
    server = MilvusStandalone(tmp_path_factory.mktemp("milvus-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def qdrant_url() -> Iterator[str]:
    """A real Qdrant server: EMB_OPT_QDRANT_URL, or a container of the compose image."""
    with container_url("qdrant") as url:
        yield url


@pytest.fixture(scope="session")
def chroma_container_url() -> Iterator[str]:
    """A Chroma server in Docker: EMB_OPT_CHROMA_URL, or a container of the compose image."""
    with container_url("chroma") as url:
        yield url


@pytest.fixture(scope="session")
def milvus_container_uri() -> Iterator[str]:
    """A Milvus >= 2.5 server: EMB_OPT_MILVUS_URI, or a container of the compose image."""
    with container_url("milvus") as url:
        yield url
