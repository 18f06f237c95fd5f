"""No secret a config resolves reaches a file or the terminal, whatever its characters and
however the config gives it: generated credentials, each in one of the syntaxes a config
takes, sent to a scoring service that echoes them back in its errors (examples/
scoring_service.py, `Faults.echo`); every file, stdout and stderr are searched for the
secret and its encoded forms."""

from __future__ import annotations

import base64
import json
import os
import re
import string
import tempfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emb_opt.cli.main import main
from emb_opt.secret_values import RESOLVED

USER, VARIABLE = "alice", "EMB_OPT_TEST_ECHOED"
ASCII = string.ascii_letters + string.digits + string.punctuation + " "  # what headers carry
TEXT = ASCII + "é€"
IN_HEADERS = ("bearer", "basic", "api key header", "variable")
IN_URLS = ("url password", "url user", "query token", "query session", "dsn url")
SYNTAXES = (*IN_HEADERS, *IN_URLS, "dsn", "plugin secret")


def credential(alphabet: str) -> st.SearchStrategy[str]:
    """A secret no output holds by chance (the `S3c` and `z` around it keep it apart)."""
    return st.text(alphabet, min_size=5, max_size=16).map(lambda text: f"S3c{text}z")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def encoded_forms(secret: str) -> set[str]:
    """The forms a secret may leak in: as is, percent-encoded, in base64 (and as a Basic
    `user:secret`), escaped in JSON; and the part of it a URL parser takes for a port when
    it holds a `/`, `?`, `#` or `@` (`Invalid port: 'S3c...'`)."""
    head = re.split("[/?#@]", secret)[0]
    return ({head} if len(head) >= 6 else set()) | {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote(secret, safe="!$&'()*+,;=:"),
        json.dumps(secret)[1:-1],
        b64(secret).rstrip("="),
        b64(f"{USER}:{secret}").rstrip("="),
    }


def libpq_quoted(secret: str) -> str:
    """`secret` as a libpq DSN value: in quotes, with `\\` and `'` escaped."""
    return "'" + secret.replace("\\", "\\\\").replace("'", "\\'") + "'"


def blocks(syntax: str, secret: str, service: str, encode: bool) -> dict[str, dict]:
    """The config blocks that give `secret` in `syntax` (`encode`: percent-encoded in a URL,
    as a URL must; else as typed)."""
    host = service.removeprefix("http://")
    typed = quote(secret, safe="") if encode else secret
    executor: dict = {"kind": "http", "url": service, "retries": 0, "timeout": 60}
    headers = {
        "bearer": {"Authorization": f"Bearer {secret}"},
        "basic": {"Authorization": f"Basic {b64(f'{USER}:{secret}')}"},
        "api key header": {"X-Api-Key": secret},
        "variable": {"X-Api-Key": f"${{{VARIABLE}}}"},
    }
    urls = {
        "url password": f"http://{USER}:{typed}@{host}",
        "url user": f"http://{quote(secret, safe='')}@{host}",
        "query token": f"{service}?token={quote_plus(secret)}",
        "query session": f"{service}?x=1&session={quote(secret, safe='')}",
    }
    found: dict[str, dict] = {"executor": executor}
    if syntax in headers:
        executor["headers"] = headers[syntax]
    elif syntax in urls:
        executor["url"] = urls[syntax]
    elif syntax == "dsn url":  # faiss takes no URL: the config keeps it
        found["source"] = {"url": f"postgresql://{USER}:{typed}@db:5432/items"}
    elif syntax == "dsn":
        value = libpq_quoted(secret) if encode or set(secret) & set(" '\\") else secret
        spaces = " " if encode else ""
        found["source"] = {"url": f"host=db user={USER} password{spaces}={spaces}{value} dbname=x"}
    else:
        found["score"] = {"function": {"name": "target", "token": secret, "secrets": ["token"]}}
    return found


def write(directory: Path, given: dict[str, dict]) -> Path:
    config = {
        "source": {
            "backend": "faiss",
            "k": 4,
            "data": {"kind": "synthetic", "n": 400, "dim": 8},
            **given.get("source", {}),
        },
        "score": given.get("score", {"function": "target"}),
        "start": {"random": 2, "seed": 1},
        "stop": {"iterations": 2},
        "executor": given["executor"],
        "output": {"dir": str(directory / "run")},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def leaks(directory: Path, secret: str, texts: dict[str, str]) -> list[str]:
    """Where a form of `secret` appears: the files under `directory` (but the config), `texts`."""
    forms = encoded_forms(secret)
    found = [
        f"{path.relative_to(directory)}: {form!r}"
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "config.yaml"
        for form in forms
        if form.encode() in path.read_bytes()
    ]
    said = [f"{name}: {form!r}" for name, text in texts.items() for form in forms if form in text]
    return found + said


@pytest.fixture(scope="module")
def echoing(service_module):
    """A scoring service that echoes the credentials of every request in its answer."""
    faults = service_module.Faults(echo=401)
    with service_module.ScoringServer(service_module.default_functions(), faults=faults) as server:
        yield server


@pytest.mark.slow  # about 30 runs of the CLI
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    syntax=st.sampled_from(SYNTAXES),
    secret=credential(TEXT),
    encode=st.booleans(),
    status=st.sampled_from([401, 500, 200]),
)
@example(syntax="url password", secret="S3cret/x@y z'q\"z", encode=False, status=401)
@example(syntax="url password", secret="S3cret@y z'q\"é%2Fz", encode=True, status=500)
@example(syntax="dsn", secret="S3c pass'w\\z", encode=True, status=200)
@example(syntax="url user", secret="S3c-token_z", encode=False, status=401)
@example(syntax="query session", secret="S3c/session+id=z", encode=False, status=401)
@example(syntax="basic", secret="S3c:pass word z", encode=False, status=500)
def test_no_form_of_a_resolved_secret_is_written(echoing, capsys, syntax, secret, encode, status):
    if syntax in IN_HEADERS:  # header values are ASCII
        secret = secret.encode("ascii", "ignore").decode()
    echoing.faults.echo, asked_before = status, echoing.requests
    RESOLVED.clear()  # each example as a new process
    capsys.readouterr()
    texts: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        config = write(directory, blocks(syntax, secret, echoing.url, encode))
        os.environ[VARIABLE] = secret
        try:
            code = main(["run", str(config), "--quiet"])
            texts["run"] = "\n".join(capsys.readouterr())
            main(["--debug", "run", str(config), "--resume", "--quiet"])
            texts["run --resume --debug"] = "\n".join(capsys.readouterr())
        finally:
            del os.environ[VARIABLE]
        RESOLVED.clear()  # `inspect` is another process: it knows no secret
        main(["inspect", str(directory / "run")])
        texts["inspect"] = "\n".join(capsys.readouterr())
        assert leaks(directory, secret, texts) == []
    assert code in (0, 1, 2) and "Traceback" not in texts["run"]
    if syntax in IN_HEADERS or syntax in ("url user", "query token", "query session"):
        assert echoing.requests > asked_before  # the service echoed the secret
        assert code == (0 if status == 200 else 1), texts["run"]
    if syntax == "plugin secret":
        assert code == 2 and "'token': '***'" in texts["run"]
