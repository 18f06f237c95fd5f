"""The secrets row: credentials a scoring service echoes, redirects, DSN and URL passwords in
every syntax, a token as a URL's user, `Bearer X` in free text. After `run` and `inspect`,
every file of the run, stdout and stderr are searched for the secret in the forms it
travels in; one found is silently wrong."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from .context import Pass
from .harness import Case, worst
from .lab import SOURCE, write_config

USER, VARIABLE = "alice", "ADV_SECRET_VARIABLE"


def forms(secret: str) -> set[str]:
    """The forms a secret may leak in: as is, percent-encoded, in base64 (and as Basic
    `user:secret`), escaped in JSON; the part a URL parser takes for a port."""
    head = re.split("[/?#@]", secret)[0]
    b64 = base64.b64encode
    return ({head} if len(head) >= 6 else set()) | {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        b64(secret.encode()).decode().rstrip("="),
        b64(f"{USER}:{secret}".encode()).decode().rstrip("="),
    }


class Redirect(http.server.BaseHTTPRequestHandler):
    """Answers every POST with a redirect to a login page, a session token in its query."""

    secret = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(302)
        self.send_header("Location", f"https://login.example/sso?session={self.secret}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """No access log."""


@contextlib.contextmanager
def redirecting(secret: str) -> Iterator[str]:
    """The URL of a service that redirects every request with `secret` as its session."""
    Redirect.secret = secret
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/score"
    finally:
        server.shutdown()
        server.server_close()


Blocks = Callable[[str, str], dict[str, Any]]  # (service URL, secret) -> config blocks


def _http(url: str, **more: Any) -> dict[str, Any]:
    return {"executor": {"kind": "http", "url": url, "retries": 0, "timeout": 30, **more}}


def _with_password(password: str) -> Blocks:
    return lambda url, secret: _http(url.replace("http://", f"http://{USER}:{password}@"))


CASES: list[tuple[str, int | None, str, Blocks]] = [  # (name, echo status, secret, blocks)
    (
        "401 body echoes a Bearer header",
        401,
        "S3cBearer-7xz",
        lambda url, s: _http(url, headers={"Authorization": f"Bearer {s}"}),
    ),
    (
        "500 body echoes an API key header",
        500,
        "S3cApiKey-8xz",
        lambda url, s: _http(url, headers={"X-Api-Key": s}),
    ),
    (
        "removal reasons echo a ${VAR} header",
        200,
        "S3cVariable-9xz",
        lambda url, s: _http(url, headers={"X-Api-Key": f"${{{VARIABLE}}}"}),
    ),
    ("a redirect with ?session=", None, "S3cSession-1xz", lambda url, s: _http(url)),
    (
        "libpq DSN `password = PW`",
        None,
        "S3cDsn-2xz",
        lambda url, s: {"source_url": f"host=db user={USER} password = {s} dbname=items"},
    ),
    ("URL password with `/`", 401, "S3cret7/pw3z", lambda url, s: _with_password(s)(url, s)),
    ("URL password with `@`", 401, "S3cret8@pw4z", lambda url, s: _with_password(s)(url, s)),
    (
        "URL password with spaces and quotes",
        401,
        "S3c pw'5\"q z",
        lambda url, s: _with_password(s)(url, s),
    ),
    (
        "URL password percent-encoded",
        401,
        "S3c/pw%6z",
        lambda url, s: _with_password(quote(s, safe=""))(url, s),
    ),
    (
        "a token as the URL's user",
        401,
        "S3cUserToken-7z",
        lambda url, s: _http(url.replace("http://", f"http://{s}@")),
    ),
    (
        "`Bearer X` in a score function's free text",
        None,
        "S3cFreeText-8z",
        lambda url, s: {"score": {"function": "adv_scores:bearer_in_text"}},
    ),
]


def echoed_secrets(ctx: Pass) -> list[Case]:
    service = ctx.service()
    cases = []
    for number, (name, echo, secret, blocks) in enumerate(CASES):
        folder = ctx.dir(f"secrets-{number}")
        faults = service.Faults(echo=echo)
        with service.ScoringServer(service.default_functions(), faults=faults) as echoing:
            redirect = redirecting(secret) if "redirect" in name else contextlib.nullcontext()
            with redirect as redirected:
                given = blocks(redirected or echoing.url, secret)
                source_url = given.pop("source_url", None)
                if source_url:
                    given["source"] = {**SOURCE, "url": source_url}
                config = write_config(
                    folder / "config.yaml",
                    folder / "run",
                    stop={"iterations": 2, "idle": None},
                    **given,
                )
                env = {VARIABLE: secret, "ADV_FREE_SECRET": secret}
                run = ctx.commands.run("run", str(config), "--quiet", cwd=folder, env=env)
        inspect = ctx.commands.run("inspect", str(folder / "run"), cwd=folder)
        found = _leaks(folder, secret, {"run": run.out + run.err, "inspect": inspect.out})
        kind = "wrong" if found else "ok"
        note = f"leaked in {', '.join(found[:4])}" if found else f"masked ({run.said()})"
        cases.append(Case("secrets", name, worst(kind, run.kind(), inspect.kind()), note))
    return cases


def _leaks(folder: Path, secret: str, texts: dict[str, str]) -> list[str]:
    """Where a form of `secret` is: the files under `folder` (but the config), `texts`."""
    wanted = forms(secret)
    found = [
        str(path.relative_to(folder))
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "config.yaml"
        if any(form.encode() in path.read_bytes() for form in wanted)
    ]
    return found + [name for name, text in texts.items() if any(f in text for f in wanted)]
