"""Bounded retries: which failures are transient, the backoff, the final BackendError."""

from __future__ import annotations

import grpc
import httpx
import pytest
from chromadb.errors import InternalError, NotFoundError
from engines import free_port
from pymilvus.exceptions import MilvusException
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from emb_opt.adapters.retry import RetryPolicy, call_with_retry, is_transient
from emb_opt.errors import BackendError, EmbOptError


def raised(fn):
    try:
        fn()
    except Exception as error:
        return error
    raise AssertionError("expected an exception")


def refused_http() -> httpx.ConnectError:
    return raised(lambda: httpx.get(f"http://127.0.0.1:{free_port()}", timeout=2))


def unavailable_grpc() -> grpc.RpcError:
    channel = grpc.insecure_channel(f"127.0.0.1:{free_port()}")
    call = channel.unary_unary("/x.Y/Z", request_serializer=bytes, response_deserializer=bytes)
    return raised(lambda: call(b"", timeout=2))


def wrapped(outer: Exception, inner: BaseException) -> Exception:
    """`outer` raised while handling `inner`, as client libraries wrap transport errors."""

    def fail():
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904

    return raised(fail)


def status_error(status: int) -> UnexpectedResponse:
    return UnexpectedResponse(status_code=status, reason_phrase="x", content=b"", headers=None)


def http_status(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://db")
    return httpx.HTTPStatusError(
        "bad", request=request, response=httpx.Response(status, request=request)
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConnectionResetError("reset by peer"),
        lambda: TimeoutError("timed out"),
        refused_http,
        unavailable_grpc,
        lambda: wrapped(ResponseHandlingException(refused_http()), refused_http()),
        lambda: wrapped(MilvusException(2, "Fail connecting to server"), unavailable_grpc()),
        lambda: status_error(503),
        lambda: InternalError("boom"),
        lambda: wrapped(Exception("<html>bad gateway</html>"), http_status(502)),
    ],
    ids=[
        "reset",
        "timeout",
        "httpx-refused",
        "grpc-unavailable",
        "qdrant-wrapped",
        "milvus-wrapped",
        "qdrant-503",
        "chroma-500",
        "proxy-502",
    ],
)
def test_transient_failures(make):
    assert is_transient(make())


@pytest.mark.parametrize(
    "make",
    [
        lambda: ValueError("bad filter"),
        lambda: status_error(404),
        lambda: NotFoundError("no such collection"),
        lambda: MilvusException(65535, "cannot parse expression"),
        lambda: wrapped(Exception("bad request"), http_status(400)),
    ],
    ids=["value", "qdrant-404", "chroma-not-found", "milvus-parse", "http-400"],
)
def test_permanent_failures(make):
    assert not is_transient(make())


def test_cyclic_exception_chains_terminate():
    error = MilvusException(1, "x")
    error.__cause__ = error  # pymilvus does `raise e from e`
    assert not is_transient(error)


def test_retries_then_succeeds_with_growing_delays():
    failures = [ConnectionResetError("reset")] * 3
    slept: list[float] = []

    def flaky():
        if failures:
            raise failures.pop()
        return "ok"

    policy = RetryPolicy(attempts=5, initial_delay=0.1, max_delay=0.3, jitter=0)
    assert call_with_retry(flaky, "search on db", policy, sleep=slept.append) == "ok"
    assert slept == pytest.approx([0.1, 0.2, 0.3])


def test_gives_up_with_a_backend_error_naming_what_and_where():
    slept: list[float] = []
    policy = RetryPolicy(attempts=3, initial_delay=0.01)

    def down():
        raise ConnectionRefusedError("refused")

    error = raised(
        lambda: call_with_retry(down, "Milvus search on http://h:1", policy, sleep=slept.append)
    )
    assert isinstance(error, BackendError) and isinstance(error, EmbOptError)
    assert isinstance(error, ConnectionError)
    assert str(error).startswith(
        "Milvus search on http://h:1 failed after 3 attempt(s): ConnectionRefusedError: refused"
    )
    assert isinstance(error.__cause__, ConnectionRefusedError) and len(slept) == 2


def test_permanent_errors_are_not_retried():
    slept: list[float] = []

    def bad():
        raise ValueError("bad filter")

    with pytest.raises(ValueError, match="bad filter"):
        call_with_retry(bad, "x", RetryPolicy(), sleep=slept.append)
    assert slept == []


def test_policy_validation_and_jitter_bounds():
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        RetryPolicy(attempts=0)
    delays = list(RetryPolicy(attempts=20, initial_delay=1, max_delay=2, jitter=0.1).delays())
    assert len(delays) == 19 and all(0.9 <= d <= 2.2 for d in delays)
