"""Secrets in a config (headers, URL passwords, tokens, api keys) are never written: not in
the run directory, not on stdout or stderr, not in error messages."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import numpy as np
import pytest
import yaml

from emb_opt.cli.main import main
from emb_opt.config import validate
from emb_opt.masking import literal_secrets, mask_config, mask_secrets

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
        ("https://h/x?key=k&sig=s&item_key=smiles", "https://h/x?key=***&sig=***&item_key=smiles"),
        # the syntaxes issue 31 found leaking
        ("host=db password = hunter2 dbname=x", "host=db password = *** dbname=x"),
        ("password='p w\\'x' host=h", "password=*** host=h"),
        ("postgresql://u:p/w@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:p@ss@host:5432/db", "postgresql://u:***@host:5432/db"),
        ("mysql://u:p w'q\"x@host:3306/db failed", "mysql://u:***@host:3306/db failed"),
        ("https://TOKEN123@host/x", "https://***@host/x"),
        ("got Bearer abc.def-ghi in text", "got Bearer *** in text"),
        ("Basic YWxpY2U6cHc= rejected", "Basic *** rejected"),
        ("Authorization: Token xyz (no such user)", "Authorization: *** (no such user)"),
        ("to https://a/login?session=S1&x=1", "to https://a/login?session=***&x=1"),
        ('{"password": "p\\"q", "x": 1}', '{"password": "***", "x": 1}'),
        # and what is no secret
        ("http://h:8080/x and mail me@example.com", "http://h:8080/x and mail me@example.com"),
        ("ssh://git@github.com/x Basic usage", "ssh://git@github.com/x Basic usage"),
        ("config: start: key: finds the items", "config: start: key: finds the items"),
    ],
)
def test_mask_secrets_in_text(text, masked):
    assert mask_secrets(text) == masked


def test_the_values_a_config_resolves_are_masked_in_every_form(monkeypatch):
    """Once a config is validated, its secrets' values are masked in any text, in the forms
    they travel in: percent-encoded, in base64 (HTTP Basic), escaped in JSON or a repr."""
    password, key, dsn = "p@ss w/rd'1", "KEYVALUE-7", 'dsn "pw\\9'
    monkeypatch.setenv("EMB_OPT_TEST_PASSWORD", password)
    validate(
        {
            "source": {"backend": "faiss", "url": f"host=db password = '{dsn}'"},
            "score": {"function": "target"},
            "executor": {
                "kind": "http",
                "url": "http://bob:${EMB_OPT_TEST_PASSWORD}@scorer/score",
                "headers": {"X-Key": key},
            },
        }
    )
    basic = base64.b64encode(f"bob:{password}".encode()).decode()
    forms = [password, quote(password, safe=""), quote_plus(password), basic, repr(password)]
    forms += [key, base64.b64encode(key.encode()).decode(), dsn, json.dumps(dsn)]
    for form in forms:
        masked = mask_secrets(f"echo {form} end")
        assert "***" in masked and not any(f in masked for f in forms), masked


def test_mask_config_masks_named_fields_and_keeps_environment_references():
    config = {
        "source": {"api_key": "k", "url": "postgresql://u:pw@h/db", "item_key": "smiles"},
        "score": {
            "function": {"name": "m:F", "token": "t", "ref": "${A:-${B:-}}", "secrets": ["token"]},
            "filter_function": {"name": "m:G", "params": {"pw": "${PW:-x}"}, "secrets": ["pw"]},
        },
        "executor": {"headers": {"X-Trace": "abc", "Authorization": "Bearer ${TOKEN}"}},
        "start": {"api_key": "${QDRANT_API_KEY:-}"},  # not a secret field: a plain value
    }
    assert mask_config(config) == {
        "source": {"api_key": "***", "url": "postgresql://u:***@h/db", "item_key": "smiles"},
        "score": {
            "function": {
                "name": "m:F",
                "token": "***",
                "ref": "${A:-${B:-}}",
                "secrets": ["token"],
            },
            "filter_function": {"name": "m:G", "params": {"pw": "***"}, "secrets": ["pw"]},
        },
        "executor": {"headers": {"X-Trace": "***", "Authorization": "Bearer ${TOKEN}"}},
        "start": {"api_key": "${QDRANT_API_KEY:-}"},
    }
    assert literal_secrets(config) == [
        "source.api_key",
        "source.url",
        "score.function.token",
        "score.filter_function.params.pw",
        "executor.headers.X-Trace",
    ]


def test_a_reference_whose_value_the_config_holds_elsewhere_is_no_literal_secret(monkeypatch):
    monkeypatch.setenv("EMB_OPT_TEST_PASSWORD", "postgres")  # a password as common as its user
    url = "postgresql://postgres:${EMB_OPT_TEST_PASSWORD}@db/items"
    raw = {"source": {"backend": "faiss", "url": url}, "score": {"function": "target"}}
    validate(raw)
    assert literal_secrets(raw) == []  # `ask` takes it
    assert mask_secrets("login postgres:postgres failed") == "login ***:*** failed"


def test_a_bug_s_traceback_is_masked_too(monkeypatch, capsys):
    secret = SECRETS["password"]

    def bug(args):
        raise RuntimeError(f"a bug near postgresql://u:{secret}@db/items")

    monkeypatch.setattr("emb_opt.cli.main.dispatch", bug)
    assert main(["status", "anywhere"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug near postgresql://u:***@db" in err
    assert secret not in err


PLAIN = {
    "source": {
        "item_key": "smiles",
        "filter": {"inchi_key": {"$ne": "KEY0001"}, "key": {"$ne": "x"}},
        "data": {"kind": "files", "items_key": "smiles"},
        "options": {"token_count": "5"},
    },
    "score": {"filter_function": {"name": "m:F", "sig_threshold": "0.9", "api_key_field": "k"}},
}


def test_keys_named_like_secrets_are_plain_values():
    assert mask_config(PLAIN) == PLAIN
    assert literal_secrets(PLAIN) == []
    text = "item_key=smiles inchi_key=ABC sig_threshold=0.9 {'items_key': 'smiles'}"
    assert mask_secrets(text) == text


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


def files_source(tmp_path: Path, item_key: str) -> dict:
    """A `source` block over 300 molecules-like rows: `smiles` items, `inchi_key` fields."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "emb.npy", rng.normal(size=(300, 8)).astype(np.float32))
    rows = [
        {"smiles": f"C{i}O", "inchi_key": f"KEY{i:04d}", "rand": rng.random()} for i in range(300)
    ]
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return {
        "item_key": item_key,
        "filter": {"inchi_key": {"$ne": "KEY0001"}},
        "data": {
            "kind": "files",
            "embeddings": str(tmp_path / "emb.npy"),
            "metadata": str(tmp_path / "meta.jsonl"),
            "items_key": "smiles",
        },
    }


THRESHOLD = {"name": "slow_objective:ThresholdFilter", "sig_threshold": "${EMB_OPT_TEST_SIG:-0.9}"}


@pytest.mark.parametrize("command", ["run", "ask"])
@pytest.mark.parametrize("item_key", ["smiles", "${EMB_OPT_TEST_ITEM_KEY:-item}"])
def test_keys_named_like_secrets_are_kept_by_run_and_ask(
    command, item_key, write_config, tmp_path, capsys
):
    source = files_source(tmp_path, item_key)
    score = {"function": None, "external": True} if command == "ask" else {}
    config = write_config(score={**score, "filter_function": THRESHOLD}, source=source)
    assert main([command, str(config)]) == 0, capsys.readouterr().err
    written = yaml.safe_load(config.read_text())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["source"] == written["source"]
    assert manifest["config"]["score"]["filter_function"] == THRESHOLD
    assert "***" not in json.dumps(manifest)
    if command == "ask":
        assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text()) == written
    assert main(["inspect", str(tmp_path / "out")]) == 0
    assert "***" not in capsys.readouterr().out


def test_a_plugin_secret_is_masked_by_run_and_refused_by_ask(
    write_config, tmp_path, monkeypatch, capsys
):
    secret = SECRETS["api_key"]
    plugin = {**THRESHOLD, "token": secret, "secrets": ["token"]}
    config = write_config(score={"filter_function": plugin})
    assert main(["run", str(config)]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["score"]["filter_function"]["token"] == "***"
    assert (
        manifest["config"]["score"]["filter_function"]["sig_threshold"]
        == "${EMB_OPT_TEST_SIG:-0.9}"
    )
    assert leaks(tmp_path / "out", *capsys.readouterr()) == []

    bad = write_config("bad.yaml", score={"filter_function": {**plugin, "bogus": 1}})
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cannot build" in err and "'token': '***'" in err and secret not in err

    typo = write_config("typo.yaml", score={"filter_function": {**plugin, "secrets": ["tokn"]}})
    assert main(["run", str(typo)]) == 2
    assert "secrets: 'tokn' is not a parameter" in capsys.readouterr().err

    score = {"function": None, "external": True, "filter_function": plugin}
    ask = write_config("ask.yaml", score=score, output={"dir": str(tmp_path / "asked")})
    assert main(["ask", str(ask)]) == 2
    err = capsys.readouterr().err
    assert "score.filter_function.token holds a secret written out" in err
    assert not (tmp_path / "asked").exists()

    monkeypatch.setenv("EMB_OPT_TEST_TOKEN", secret)
    plugin["token"] = "${EMB_OPT_TEST_TOKEN}"
    ask = write_config("ask.yaml", score=score, output={"dir": str(tmp_path / "asked")})
    assert main(["ask", str(ask)]) == 0
    stored = yaml.safe_load((tmp_path / "asked" / "config.yaml").read_text())
    assert stored["score"]["filter_function"]["token"] == "${EMB_OPT_TEST_TOKEN}"
    assert leaks(tmp_path / "asked", *capsys.readouterr()) == []


def test_a_run_whose_manifest_masked_a_plain_key_resumes(write_config, tmp_path, capsys):
    """A manifest written when `item_key` was taken for a secret holds `***` for it (and a
    fingerprint of that): `--resume` with the same config goes on, its data checked."""
    source = files_source(tmp_path, "smiles")
    assert main(["run", str(write_config(source=source, stop={"iterations": 2}))]) == 0
    path = tmp_path / "out" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["source"]["item_key"] = "***"
    manifest["fingerprint"] = "0" * 16
    path.write_text(json.dumps(manifest))
    embeddings = (tmp_path / "emb.npy").read_bytes()
    np.save(tmp_path / "emb.npy", np.ones((300, 8), dtype=np.float32))  # the data changed
    longer = write_config(source=source, stop={"iterations": 4})
    capsys.readouterr()
    assert main(["run", str(longer), "--resume"]) == 2  # the same run, so its data is checked
    assert "the source data changed" in capsys.readouterr().err
    (tmp_path / "emb.npy").write_bytes(embeddings)
    assert main(["run", str(longer), "--resume"]) == 0, capsys.readouterr().err
    manifest = json.loads(path.read_text())
    assert manifest["config"]["source"]["item_key"] == "smiles"
    assert manifest["counters"]["iterations"] == 4


def test_a_run_whose_manifest_an_older_emb_opt_masked_less_resumes(write_config, tmp_path):
    """A manifest holding a DSN password that the masking of its day missed (`password = PW`)
    and a fingerprint of that: `--resume` goes on, and the manifest is masked now."""
    source = {"url": f"host=db password = {SECRETS['password']} dbname=items"}
    assert main(["run", str(write_config(source=source, stop={"iterations": 2}))]) == 0
    path = tmp_path / "out" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["source"]["url"] = source["url"]
    manifest["fingerprint"] = "0" * 16
    path.write_text(json.dumps(manifest))
    longer = write_config(source=source, stop={"iterations": 3})
    assert main(["run", str(longer), "--resume"]) == 0
    manifest = json.loads(path.read_text())
    assert manifest["config"]["source"]["url"] == "host=db password = *** dbname=items"
    assert manifest["counters"]["iterations"] == 3 and "executor_changes" not in manifest
    assert leaks(tmp_path / "out") == []
