"""Secrets in a config (headers, URL passwords, tokens, api keys) are never written: not in
the run directory, not on stdout or stderr, not in error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from emb_opt.cli.main import main
from emb_opt.masking import literal_secrets, mask_secrets

SECRETS = {
    "password": "PW-S3CRET-1",
    "bearer": "TOKEN-S3CRET-2",
    "header key": "KEY-S3CRET-3",
    "cookie": "COOKIE-S3CRET-4",
    "api_key": "APIKEY-S3CRET-5",
    "query token": "QUERY-S3CRET-6",
}


def leaks(directory: Path, *texts: str) -> list[str]:
    """Where a secret appears: every file under `directory` (bytes), and `texts`."""
    found = []
    for path in [p for p in directory.rglob("*") if p.is_file()]:
        content = path.read_bytes()
        found += [f"{path}: {n}" for n, s in SECRETS.items() if s.encode() in content]
    return found + [f"output: {n}" for n, s in SECRETS.items() for t in texts if s in t]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
        (
            "http://u:pw@h:1/score?token=t&x=1&api_key=k",
            "http://u:***@h:1/score?token=***&x=1&api_key=***",
        ),
        ("host=db password=hunter2 dbname=x", "host=db password=*** dbname=x"),
        ("{'Authorization': 'Bearer x', 'k': 5}", "{'Authorization': '***', 'k': 5}"),
        (
            "http://u:${PGPASSWORD}@h/db?token=${TOKEN}",
            "http://u:${PGPASSWORD}@h/db?token=${TOKEN}",
        ),
        ("http://127.0.0.1:8080/score author=me", "http://127.0.0.1:8080/score author=me"),
    ],
)
def test_mask_secrets_in_text(text, masked):
    assert mask_secrets(text) == masked


def test_mask_secrets_in_a_config_keeps_environment_references():
    config = {
        "executor": {"headers": {"X-Trace": "abc", "Authorization": "Bearer ${TOKEN}"}},
        "source": {"api_key": "k", "k": 5, "filter": {"author": "me"}, "accessToken": "t"},
        "score": {"max_tokens": "10", "password": "${PW:-fallback}", "token": "${A:-${B:-}}"},
        "start": {"api_key": "${QDRANT_API_KEY:-}"},
    }
    assert mask_secrets(config) == {
        "executor": {"headers": {"X-Trace": "***", "Authorization": "Bearer ${TOKEN}"}},
        "source": {"api_key": "***", "k": 5, "filter": {"author": "me"}, "accessToken": "***"},
        "score": {"max_tokens": "10", "password": "***", "token": "${A:-${B:-}}"},
        "start": {"api_key": "${QDRANT_API_KEY:-}"},
    }
    assert literal_secrets(config) == [
        "executor.headers.X-Trace",
        "source.api_key",
        "source.accessToken",
        "score.password",
    ]


def test_no_secret_of_a_config_reaches_a_file_or_the_terminal(
    write_config, tmp_path, service_module, capsys
):
    headers = {
        "Authorization": f"Bearer {SECRETS['bearer']}",
        "X-Api-Key": SECRETS["header key"],
        "Cookie": f"session={SECRETS['cookie']}",
    }
    with service_module.ScoringServer(service_module.default_functions()).start() as server:
        address = server.url.replace("http://", f"http://alice:{SECRETS['password']}@")
        good = write_config(
            "good.yaml",
            source={"api_key": SECRETS["api_key"]},
            executor={"kind": "http", "url": address, "headers": headers},
            output={"dir": str(tmp_path / "good")},
        )
        assert main(["run", str(good)]) == 0
        assert server.requests > 0
        # a path the service does not have: its 404 answer echoes the query string
        wrong = address.replace("/score", f"/nope?token={SECRETS['query token']}")
        bad = write_config(
            "bad.yaml",
            source={"api_key": SECRETS["api_key"]},
            executor={"kind": "http", "url": wrong, "headers": headers},
            output={"dir": str(tmp_path / "bad")},
        )
        assert main(["--debug", "run", str(bad)]) == 1  # the traceback too
    out, err = capsys.readouterr()
    assert "rejected the request: HTTP 404" in err and "token=***" in err
    assert leaks(tmp_path / "good", out, err) == []
    assert leaks(tmp_path / "bad") == []
    manifest = (tmp_path / "good" / "manifest.json").read_text()
    assert '"Authorization": "***"' in manifest and "alice:***@" in manifest


def test_ask_tell_refuses_a_literal_secret_and_keeps_a_reference(
    write_config, tmp_path, monkeypatch, capsys
):
    score = {"function": None, "external": True}
    literal = write_config("literal.yaml", score=score, source={"api_key": SECRETS["api_key"]})
    assert main(["ask", str(literal)]) == 2
    err = capsys.readouterr().err
    assert "source.api_key holds a secret written out" in err and "${" in err
    assert not (tmp_path / "out").exists()  # nothing written

    monkeypatch.setenv("EMB_OPT_TEST_KEY", SECRETS["api_key"])
    reference = write_config("ref.yaml", score=score, source={"api_key": "${EMB_OPT_TEST_KEY}"})
    assert main(["ask", str(reference)]) == 0
    out, err = capsys.readouterr()
    stored = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert stored["source"]["api_key"] == "${EMB_OPT_TEST_KEY}"
    assert leaks(tmp_path / "out", out, err) == []
