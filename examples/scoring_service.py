"""A tiny reference scoring service for `HTTPExecutor` (standard library plus emb_opt).

    python examples/scoring_service.py --port 8000            # serves until Ctrl-C
    python examples/scoring_service.py --port 0 --delay 0.01   # any free port, 10 ms/item

    POST /score  {"function": NAME, "items": [Item, ...]}  ->  {"responses": [Response, ...]}
    GET  /       {"functions": [NAME, ...]}

The wire format is `emb_opt.executors.wire` (docs/executors.md). Errors answer
{"error": message}: 400 for a malformed request, 404 for an unknown function, 500 when the
function raises. `Faults` makes the service fail on purpose (500s, hangs) for tests and demos.
In tests: ``with ScoringServer(default_functions()) as server: HTTPExecutor(server.url)``.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from emb_opt.executors.wire import parse_request, response_body
from emb_opt.objectives import TargetScore
from emb_opt.schemas import Item, ScoreResponse

BatchFunction = Callable[[list[Item]], list[Any]]


class SlowTargetScore(TargetScore):
    """The tutorial objective behind an I/O wait of `delay` seconds per item (a remote model)."""

    def __init__(self, delay: float = 0.01, target: float = 0.75, sigma: float = 5.0) -> None:
        super().__init__(target, sigma)
        self.delay = delay

    def __call__(self, items: list[Item]) -> list[ScoreResponse]:
        time.sleep(self.delay * len(items))
        return super().__call__(items)


def default_functions(delay: float = 0.01) -> dict[str, BatchFunction]:
    """The functions served by default, by the names `HTTPExecutor` sends for them."""
    return {"TargetScore": TargetScore(), "SlowTargetScore": SlowTargetScore(delay)}


@dataclass
class Faults:
    """Deliberate failures: answer 500 to the next `fail_next` requests, then sleep
    `hang_seconds` before answering each of the next `hang_next` ones. With `echo` (an HTTP
    status), answer every request so, echoing the credentials it carried in the error (its
    path and query, its headers' values, the password of a Basic `Authorization`), as a
    careless service does; `echo=200` says it as the error of every item, scored invalid."""

    fail_next: int = 0
    hang_next: int = 0
    hang_seconds: float = 5.0
    echo: int | None = None


class ScoringServer(ThreadingHTTPServer):
    """Serves `functions` on host:port (port 0 picks a free one), a thread per request."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        functions: Mapping[str, BatchFunction],
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.functions = dict(functions)
        self.faults = faults or Faults()
        self.requests = 0  # every POST received, failed on purpose or not
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/score"

    def next_fault(self) -> str | None:
        """Count a request and say which deliberate fault, if any, it gets."""
        with self._lock:
            self.requests += 1
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                return "fail"
            if self.faults.hang_next > 0:
                self.faults.hang_next -= 1
                return "hang"
            return None

    def start(self) -> ScoringServer:
        """Serve on a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> ScoringServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client gave up on a hung request."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScoringServer

    def do_GET(self) -> None:
        self._reply(200, {"functions": sorted(self.server.functions)})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fault = self.server.next_fault()
        if fault == "fail":
            return self._reply(500, {"error": "failing on purpose (Faults.fail_next)"})
        if fault == "hang":
            time.sleep(self.server.faults.hang_seconds)
        if self.server.faults.echo is not None:
            return self._echo(self.server.faults.echo, body)
        if self.path != "/score":
            return self._reply(404, {"error": f"no route {self.path!r}; POST to /score"})
        try:
            name, items = parse_request(json.loads(body))
        except (ValueError, ValidationError) as error:
            return self._reply(400, {"error": f"malformed request: {error}"})
        function = self.server.functions.get(name)
        if function is None:
            known = sorted(self.server.functions)
            return self._reply(404, {"error": f"unknown function {name!r}; serving {known}"})
        try:
            responses = function(items)
        except Exception as error:
            return self._reply(500, {"error": f"{name} raised {type(error).__name__}: {error}"})
        self._reply(200, response_body(responses))

    def _echo(self, status: int, body: bytes) -> None:
        """Answer `status` with the request's credentials in the error (see `Faults.echo`)."""
        scheme, _, credential = self.headers.get("Authorization", "").partition(" ")
        basic = base64.b64decode(credential).decode() if scheme == "Basic" else ""
        error = f"denied {self.path} with {' '.join(self.headers.values())} {basic}"
        if status != 200:
            return self._reply(status, {"error": error})
        _, items = parse_request(json.loads(body))
        invalid = ScoreResponse(valid=False, data={"error": error})
        self._reply(200, response_body([invalid] * len(items)))

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.01, help="SlowTargetScore s/item")
    parser.add_argument("--fail-first", type=int, default=0, help="answer 500 to N requests")
    args = parser.parse_args(argv)
    server = ScoringServer(
        default_functions(args.delay), args.host, args.port, Faults(fail_next=args.fail_first)
    )
    print(f"scoring service on {server.url} serving {sorted(server.functions)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
