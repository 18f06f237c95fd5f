"""HTTPExecutor against the reference scoring service: format, order, limits, faults."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from emb_opt import (
    BackendError,
    CallTimedOut,
    PluginError,
    PluginResponseError,
    Runner,
    SearchAborted,
)
from emb_opt.executors import HTTPExecutor, RemoteFunction, SerialExecutor
from emb_opt.masking import mask_secrets
from emb_opt.objectives import TargetScore
from emb_opt.schemas import FilterResponse, ScoreResponse
from emb_opt.update import TopKDiscreteUpdate

pytest.importorskip("httpx")


class Gauge:
    """Scores 1.0 after a short wait and records how many calls overlapped."""

    def __init__(self) -> None:
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, items):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.05)
        with self.lock:
            self.active -= 1
        return [ScoreResponse(valid=True, score=1.0) for _ in items]


def rand_below_09(items):
    return [FilterResponse(valid=item.data["rand"] < 0.9) for item in items]


def one_short(items):
    return [ScoreResponse(valid=True, score=0.0) for _ in items[1:]]


def not_a_list(items):
    return {"score": 1.0}


def plain_scores(items):
    """The tutorial objective as numpy floats, None for low `rand` and a dict for high."""
    scores = [response.score for response in TargetScore()(items)]
    return [
        None
        if item.data["rand"] < 0.3
        else {"score": s}
        if item.data["rand"] > 0.7
        else np.float32(s)
        for item, s in zip(items, scores)
    ]


def text_scores(items):
    return [str(response.score) for response in TargetScore()(items)]


@pytest.fixture
def server(service_module):
    functions = {
        **service_module.default_functions(delay=0.001),
        "Gauge": Gauge(),
        "rand_below_09": rand_below_09,
        "one_short": one_short,
        "not_a_list": not_a_list,
        "plain_scores": plain_scores,
        "text_scores": text_scores,
    }
    with service_module.ScoringServer(functions) as running:
        yield running


def quick(url: str, **options) -> HTTPExecutor:
    """An executor with short backoff so fault tests stay fast."""
    return HTTPExecutor(url, **{"backoff": 0.01, "timeout": 5.0, **options})


def scores(outcomes):
    return [response["score"] for _, responses in outcomes for response in responses]


def test_results_match_serial_in_input_order(server, items):
    with quick(server.url, batch_size=7, concurrency=3) as executor:
        outcomes = executor.run(TargetScore(), items)
    assert [batch for batch, _ in outcomes] == [items[i : i + 7] for i in range(0, 40, 7)]
    serial = SerialExecutor().run(TargetScore(), items)
    assert scores(outcomes) == [r.score for _, out in serial for r in out]
    assert server.requests == 6


def test_remote_function_is_sent_by_name_and_refuses_local_calls(server, items):
    slow = RemoteFunction("SlowTargetScore")
    with quick(server.url) as executor:
        [(_, responses)] = executor.run(slow, items[:5])
    assert len(responses) == 5 and all(r["valid"] for r in responses)
    with pytest.raises(PluginError, match="HTTPExecutor"):
        slow(items[:1])


def test_no_more_than_concurrency_requests_in_flight(server, items):
    with quick(server.url, batch_size=4, concurrency=2) as executor:
        outcomes = executor.run(RemoteFunction("Gauge"), items)
    assert len(outcomes) == 10 and all(isinstance(out, list) for _, out in outcomes)
    assert server.functions["Gauge"].peak <= 2


def test_500s_for_a_while_are_retried(server, items):
    server.faults.fail_next = 2
    with quick(server.url, batch_size=20, concurrency=1, retries=3) as executor:
        outcomes = executor.run(TargetScore(), items)
    assert all(isinstance(out, list) and len(out) == 20 for _, out in outcomes)
    assert server.requests == 2 + 2


def test_500s_that_last_become_a_backend_error(server, items):
    server.faults.fail_next = 100
    with quick(server.url, retries=2) as executor:
        [(_, error)] = executor.run(TargetScore(), items[:3])
    assert isinstance(error, BackendError)
    assert "3 attempt(s)" in str(error) and "HTTP 500" in str(error)
    assert "failing on purpose" in str(error) and server.requests == 3


def test_a_hang_past_the_timeout_is_retried(server, items):
    server.faults.hang_next, server.faults.hang_seconds = 1, 1.0
    with quick(server.url, timeout=0.2, retries=2) as executor:
        [(_, responses)] = executor.run(TargetScore(), items[:3])
    assert len(responses) == 3 and server.requests == 2


def test_a_service_that_keeps_hanging_times_out_clearly(server, items):
    server.faults.hang_next, server.faults.hang_seconds = 10, 1.0
    with quick(server.url, timeout=0.2, retries=1) as executor:
        [(_, error)] = executor.run(TargetScore(), items[:3])
    assert isinstance(error, CallTimedOut) and "timeout=0.2" in str(error)


def test_an_unreachable_service_is_a_backend_error(server, items):
    url = server.url
    server.stop()
    with quick(url, retries=1) as executor:
        [(_, error)] = executor.run(TargetScore(), items[:2])
    assert isinstance(error, BackendError) and "Connect" in str(error)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("one_short", r"answered 2 responses for a batch of 3 items"),
        ("not_a_list", r'must answer a JSON object \{"responses": \[\.\.\.\]\}'),
        ("unknown", r"rejected the request: HTTP 404: unknown function 'unknown'"),
    ],
)
def test_a_wrong_answer_is_a_plugin_error_and_not_retried(server, items, function, message):
    with quick(server.url, retries=3) as executor:
        [(_, error)] = executor.run(RemoteFunction(function), items[:3])
    assert isinstance(error, PluginError) and server.requests == 1
    assert re.search(message, str(error))


def test_run_works_inside_a_running_event_loop(server, items):
    async def notebook_cell():
        with quick(server.url) as executor:
            return executor.run(TargetScore(), items[:4])

    [(_, responses)] = asyncio.run(notebook_cell())
    assert len(responses) == 4


@pytest.mark.parametrize(
    "options",
    [{"url": "localhost:8000"}, {"retries": -1}, {"concurrency": 0}, {"timeout": 0}],
)
def test_bad_options_are_rejected(options):
    with pytest.raises(ValueError):
        HTTPExecutor(**{"url": "http://localhost:8000/score", **options})


@pytest.mark.parametrize(
    ("url", "posted_to"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/score"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/score"),
        ("https://scorer/?key=1", "https://scorer/score?key=1"),
        ("http://scorer:8000/score", "http://scorer:8000/score"),
        ("http://scorer:8000/v1/predict", "http://scorer:8000/v1/predict"),
    ],
)
def test_a_base_url_posts_to_score_and_an_explicit_path_is_kept(url, posted_to):
    assert HTTPExecutor(url).url == posted_to


def test_the_service_base_url_works(server, items):
    with quick(server.url.removesuffix("/score"), batch_size=10) as executor:
        outcomes = executor.run(TargetScore(), items)
    assert [len(responses) for _, responses in outcomes] == [10, 10, 10, 10]


def search(numpy_source, start_batch, executor, filter_function=None, score=None, **kwargs):
    runner = Runner(
        numpy_source,
        filter_function,
        score or TargetScore(),
        None,
        TopKDiscreteUpdate(4),
        executor=executor,
    )
    return runner.search(start_batch.model_copy(deep=True), 3, verbose=False, **kwargs)[1]


def id_scores(log):
    return {row["id"]: row["score"] for row in log.compile_results()}


def test_remote_search_matches_local_search(server, numpy_source, start_batch):
    with quick(server.url, batch_size=5, concurrency=4) as executor:
        remote = search(
            numpy_source, start_batch, executor, filter_function=RemoteFunction("rand_below_09")
        )
    local = search(numpy_source, start_batch, SerialExecutor(), filter_function=rand_below_09)
    assert remote.counters.score_calls == local.counters.score_calls > 10
    assert id_scores(remote) == id_scores(local)
    assert remote.counters.filter_calls > remote.counters.score_calls  # the filter removed some


def test_a_service_answers_the_shapes_a_local_score_function_may_return(
    server, numpy_source, start_batch
):
    with quick(server.url, batch_size=5) as executor:
        remote = search(numpy_source, start_batch, executor, score=RemoteFunction("plain_scores"))
    local = search(numpy_source, start_batch, SerialExecutor(), score=plain_scores)
    assert id_scores(remote) == pytest.approx(id_scores(local)) and len(id_scores(local)) > 5
    reasons = {item.internal.removal_reason for item in remote.items.values()}
    assert "score function returned None" in reasons


def test_a_service_answering_text_scores_is_one_line_naming_the_response(
    server, numpy_source, start_batch
):
    with quick(server.url) as executor, pytest.raises(SearchAborted) as caught:
        search(numpy_source, start_batch, executor, score=RemoteFunction("text_scores"))
    assert isinstance(caught.value.__cause__, PluginResponseError)
    assert re.search(
        r"score function 'text_scores' response 0 is '[-.\de]+' \(str\); expected a number, None",
        str(caught.value),
    )


def test_a_service_that_keeps_failing_aborts_the_search_with_the_log(
    server, numpy_source, start_batch
):
    def break_after_two(log):
        if log.counters.iterations == 2:
            server.faults.fail_next = 10**6

    with quick(server.url, retries=2) as executor, pytest.raises(SearchAborted) as caught:
        search(numpy_source, start_batch, executor, on_iteration=break_after_two)
    assert "BackendError" in str(caught.value) and "HTTP 500" in str(caught.value)
    assert caught.value.log.counters.iterations == 2
    assert len(caught.value.log.compile_results()) > 0


def test_the_service_lists_its_functions_and_rejects_malformed_requests(server):
    import httpx

    root = server.url.removesuffix("/score")
    assert "TargetScore" in httpx.get(root + "/").json()["functions"]
    answer = httpx.post(server.url, content=b"not json")
    assert answer.status_code == 400 and "malformed request" in answer.json()["error"]
    answer = httpx.post(server.url, json={"function": "TargetScore", "items": [{"id": 1}]})
    assert answer.status_code == 400 and "embedding" in answer.json()["error"]


class Trickle(http.server.BaseHTTPRequestHandler):
    """Answers every POST with headers, then one byte of its body every half second."""

    stop = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(10**6))
        self.end_headers()
        try:
            while not self.stop.wait(0.5):
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:  # the client gave up
            pass

    def log_message(self, *args) -> None:
        pass


class Redirect(http.server.BaseHTTPRequestHandler):
    """Answers every POST with a redirect to a login page, a session token in its query."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(302)
        self.send_header("Location", "https://u:PW-s3cret-6@login.example/sso?session=SID-s3cret-5")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """The URL of a server answering with `handler` until the block ends."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/score"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def trickling_url():
    Trickle.stop.clear()
    with serving(Trickle) as url:
        try:
            yield url
        finally:
            Trickle.stop.set()


@pytest.mark.slow
def test_a_service_that_trickles_its_answer_fails_at_the_whole_request_deadline(
    trickling_url, items
):
    """httpx's timeouts are per read: a byte every 0.5 s never trips `timeout=2` there."""
    outcomes: list = []
    executor = quick(trickling_url, timeout=2, retries=1)
    call = threading.Thread(
        target=lambda: outcomes.extend(executor.run(TargetScore(), items[:3])), daemon=True
    )
    call.start()
    call.join(60)  # on main it went on for 10**6 half seconds
    assert not call.is_alive(), "the request had no deadline"
    executor.close()
    [(_, error)] = outcomes
    assert isinstance(error, CallTimedOut)
    assert "2 attempt(s)" in str(error) and "timed out after 2 s" in str(error)


ECHOED_HEADERS = {"X-Api-Key": "KEY-s3cret-1", "Authorization": "Bearer TOKEN-s3cret-2"}
SENT = ("KEY-s3cret-1", "TOKEN-s3cret-2", "PW/s3cret-3", "PW%2Fs3cret-3", "SESSION-s3cret-4")


def with_credentials(url: str) -> str:
    """`url` with a password (sent as HTTP Basic) and a session token in its query."""
    return url.replace("http://", "http://alice:PW%2Fs3cret-3@") + "?session=SESSION-s3cret-4"


@pytest.mark.parametrize("status", [401, 500])
def test_credentials_a_service_echoes_in_an_error_are_masked(server, items, status):
    server.faults.echo = status
    with quick(with_credentials(server.url), headers=ECHOED_HEADERS, retries=0) as executor:
        [(_, error)] = executor.run(TargetScore(), items[:2])
    assert isinstance(error, PluginError if status == 401 else BackendError)
    assert f"HTTP {status}: denied /score?session=***" in str(error)
    assert [secret for secret in SENT if secret in str(error)] == []


def test_credentials_a_service_echoes_as_removal_reasons_are_masked(
    server, numpy_source, start_batch
):
    server.faults.echo = 200  # every item invalid, the request's credentials its error
    url = with_credentials(server.url)
    with quick(url, headers=ECHOED_HEADERS) as executor:
        log = search(numpy_source, start_batch, executor)
    failed = log.failures()
    assert failed and all(i.internal.removal_reason.startswith("denied") for i in failed)
    written = json.dumps([i.model_dump(mode="json") for i in failed]) + json.dumps(log.reasons)
    assert "***" in written and [secret for secret in SENT if secret in written] == []


def test_a_redirect_is_named_without_its_credentials(items):
    with serving(Redirect) as url, quick(url, retries=0) as executor:
        [(_, error)] = executor.run(TargetScore(), items[:2])
    assert isinstance(error, PluginError)
    assert "a redirect to 'https://login.example/sso'" in str(error)
    assert "s3cret" not in str(error)


def test_an_unencoded_url_password_a_parser_takes_for_a_port_is_masked(items):
    with quick("http://alice:hunter22/x@127.0.0.1:1/score", retries=0) as executor:
        [(_, error)] = executor.run(TargetScore(), items[:1])
    assert "hunter22" in str(error)  # httpx names the port it could not read
    assert "hunter22" not in mask_secrets(str(error))
