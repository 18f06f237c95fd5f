"""Run filter and score functions behind an HTTP scoring service (httpx, asyncio).

`HTTPExecutor` posts each batch to `url` (to `/score` there when `url` has no path) in the
format of `emb_opt.executors.wire` (see there, or docs/executors.md) with at most
`concurrency` requests in flight. Each attempt has a deadline, `timeout` seconds for the
whole request (connecting, sending, and reading the whole answer, however slowly it comes).
Connection errors, timeouts, 5xx and 429 answers are
retried `retries` times with exponential backoff; a batch that still fails becomes a
`BackendError`, a reply of the wrong shape or length a `PluginError` (the runner then stops
the search, keeping the log, or invalidates the batch). Retried requests may reach the
service twice, so service functions should be idempotent; each item still appears exactly
once in the results.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..checks import check_count, check_number, check_positive
from ..errors import BackendError, CallTimedOut, PluginError, missing_dependency
from ..masking import mask_secrets, register_config
from ..schemas import Item
from .base import BatchFunction, ExecutorSpec, Outcome, split
from .wire import parse_response, remote_name, request_body

T = TypeVar("T")

SCORE_PATH = "/score"  # where a service's base URL is posted to (the reference service's route)


def endpoint(url: str) -> str:
    """`url` with `/score` as its path when it has none (or just "/"), else `url` unchanged.

    `http://127.0.0.1:8080` and `http://127.0.0.1:8080/` become `http://127.0.0.1:8080/score`;
    `http://scorer:8000/v1/score` stays as it is.
    """
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        return url
    return urlunsplit(parts._replace(path=SCORE_PATH))


class RemoteFunction:
    """A stand-in for a function that exists only on the service, known by `name` there.

    `Runner(data, score_function=RemoteFunction("TargetScore"), ..., executor=HTTPExecutor(url))`
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a remote function needs a non-empty name, got {name!r}")
        self.remote_name = name
        self.__name__ = name

    def __call__(self, items: list[Item]) -> list[Any]:
        raise PluginError(
            f"{self.remote_name!r} runs on a scoring service: use it with an HTTPExecutor"
        )

    def __repr__(self) -> str:
        return f"RemoteFunction({self.remote_name!r})"


class HTTPExecutor:
    """Posts batches to a scoring service; keeps one connection pool across runs.

    `url` is the service's endpoint, or its base URL (no path, or "/"), which means `/score`
    there, the route of the reference service `examples/scoring_service.py`.

    `timeout` (seconds) bounds each attempt as a whole, from connecting to the last byte of
    the answer (a retry gets a new `timeout`); `backoff` is the first retry delay, doubled each
    retry up to `max_backoff`; `headers` go on every request (e.g. an API key). The
    headers' values and the credentials in `url` are never written to a run's files or error
    messages, nor echoed from the service's answers (see `emb_opt.masking`).
    """

    def __init__(
        self,
        url: str,
        concurrency: int = 8,
        batch_size: int | None = 64,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            import httpx  # noqa: F401
        except ImportError:
            raise missing_dependency("httpx", "http") from None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http:// or https:// address, got {url!r}")
        check_positive("concurrency", concurrency)
        check_positive("batch_size", batch_size)
        check_number("timeout", timeout, minimum=1e-3)
        check_count("retries", retries)
        check_number("backoff", backoff)
        check_number("max_backoff", max_backoff)
        register_config({"executor": {"url": url, "headers": dict(headers or {})}})
        self.url = endpoint(url)
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = dict(headers or {})
        self._loop: _LoopThread | None = None
        self._client: Any = None

    def run(self, fn: BatchFunction, inputs: Sequence[Any]) -> list[Outcome]:
        batches = split(inputs, self.batch_size)
        if not batches:
            return []
        if self._loop is None:
            self._loop = _LoopThread()
        results = self._loop.run(self._post_all(remote_name(fn), batches))
        return list(zip(batches, results))

    def close(self) -> None:
        """Close the connection pool and stop the event-loop thread."""
        if self._loop is None:
            return
        self._loop.run(_cancel_the_rest())  # a call an interrupt left behind
        if self._client is not None:
            self._loop.run(self._client.aclose())
            self._client = None
        self._loop.stop()
        self._loop = None

    def __enter__(self) -> HTTPExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _post_all(self, function: str, batches: list[list[Any]]) -> list[Any]:
        if self._client is None:
            self._client = self._make_client()
        gate = asyncio.Semaphore(self.concurrency)

        async def guarded(batch: list[Any]) -> Any:
            async with gate:
                try:
                    return await self._post(function, batch)
                except Exception as error:
                    return error

        return list(await asyncio.gather(*(guarded(batch) for batch in batches)))

    def _make_client(self) -> Any:
        import httpx

        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout), limits=limits, headers=self.headers
        )

    async def _post(self, function: str, batch: list[Any]) -> list[Any]:
        """One batch's responses; retries transient failures, then raises BackendError
        (CallTimedOut when the last attempt timed out)."""
        import httpx

        where = f"scoring service {mask_secrets(self.url)} (function {function!r})"
        body = request_body(function, batch)
        last_failure, timed_out = "", False
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))
            try:
                post = self._client.post(self.url, json=body)
                response = await asyncio.wait_for(post, self.timeout)
            except (httpx.TransportError, asyncio.TimeoutError) as error:
                last_failure = _transport_failure(error, self.timeout)
                timed_out = isinstance(error, (httpx.TimeoutException, asyncio.TimeoutError))
                continue
            status = response.status_code
            if status >= 500 or status == 429:
                last_failure, timed_out = f"HTTP {status}: {_error_text(response)}", False
                continue
            if status >= 400:
                raise PluginError(
                    f"{where} rejected the request: HTTP {status}: {_error_text(response)}"
                )
            if status >= 300:
                raise PluginError(
                    f"{where} answered HTTP {status}, a redirect to "
                    f"{_address(response.headers.get('location'))!r}: set url to the final "
                    "address"
                )
            return parse_response(_json(response, where), len(batch), where)
        raise (CallTimedOut if timed_out else BackendError)(
            f"{where} failed {self.retries + 1} attempt(s) for a batch of {len(batch)} "
            f"items; last failure: {last_failure}"
        )


def build(spec: ExecutorSpec) -> HTTPExecutor:
    """`executor: {kind: http, url: ...}`."""
    return HTTPExecutor(**spec.options)


def _transport_failure(error: Exception, timeout: float) -> str:
    import httpx

    if isinstance(error, (httpx.TimeoutException, asyncio.TimeoutError)):
        return f"timed out after {timeout:g} s (no whole answer within timeout={timeout})"
    return mask_secrets(f"{type(error).__name__}: {error}".rstrip(": "))


def _address(location: str | None) -> str | None:
    """A redirect's target without what may be a credential: its user, password, query
    (`?session=...`) and fragment."""
    if location is None:
        return None
    parts = urlsplit(location)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment=""))


def _json(response: Any, where: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PluginError(
            f"{where} answered HTTP {response.status_code} with a body that is not JSON: "
            f"{mask_secrets(response.text)[:200]!r}"
        ) from None


def _error_text(response: Any) -> str:
    """The service's `error` message when it sent one, else the start of the body; with
    the secrets it echoes masked (before it is cut: no secret is cut in half)."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return str(mask_secrets(payload["error"]))
    return str(mask_secrets(response.text))[:200] or response.reason_phrase


class _LoopThread:
    """An asyncio loop on a daemon thread, so `run` works even inside a running loop
    (a notebook) and the connection pool outlives a single call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="emb-opt-http", daemon=True
        )
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop; an interrupt while waiting (Ctrl-C, SIGTERM) cancels
        it there."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def _cancel_the_rest() -> None:
    """Cancel every other task of the running loop and wait for them to end."""
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
