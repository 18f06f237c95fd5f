"""The fingerprint of a run's data files: whole, or sampled (then a new mtime is a change),
kept in the run directory while the files' identity (size, mtime, ctime, inode) stays."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import yaml
from asktell_runs import CORPUS, write

from emb_opt.cli import sourcedata
from emb_opt.cli.main import main
from emb_opt.cli.sourcedata import changes, file_fingerprint, files_identity
from emb_opt.config.schema import SourceConfig


def fingerprint(path):
    return {"source.data.embeddings": file_fingerprint(path)}


def test_a_small_file_is_hashed_whole_and_a_touch_is_no_change(tmp_path):
    path = tmp_path / "emb.npy"
    path.write_bytes(bytes(range(256)) * 40)
    before = fingerprint(path)
    assert before["source.data.embeddings"]["hashed"] == "whole"
    os.utime(path, (1, 1))
    assert changes(before, fingerprint(path)) == []
    path.write_bytes(bytes(range(256)) * 39 + bytes(255) + b"x")
    (change,) = changes(before, fingerprint(path))
    assert change.startswith("source.data.embeddings: content changed since the run started")


def test_a_large_file_is_hashed_in_samples_and_a_new_mtime_counts(tmp_path, monkeypatch):
    monkeypatch.setattr(sourcedata, "WHOLE_FILE_LIMIT", 1000)
    monkeypatch.setattr(sourcedata, "BLOCK_BYTES", 10)
    path = tmp_path / "emb.npy"
    path.write_bytes(bytes(10_000))
    before, written = fingerprint(path), os.stat(path).st_mtime_ns
    assert before["source.data.embeddings"]["hashed"] == "sampled"
    with open(path, "r+b") as handle:
        handle.write(b"\1")  # the first block is always one of the samples
    os.utime(path, ns=(written, written))  # the same mtime: the hash tells
    (change,) = changes(before, fingerprint(path))
    assert "content changed" in change
    path.write_bytes(bytes(10_000))
    os.utime(path, (1, 1))
    (change,) = changes(before, fingerprint(path))
    assert "modified since the run started" in change and "hashed in samples" in change
    path.write_bytes(bytes(10_001))
    assert changes(before, fingerprint(path)) == [
        "source.data.embeddings: size 10000 -> 10001 bytes"
    ]


@pytest.mark.parametrize("key", ["count", "dimension"])
def test_a_changed_collection_names_what_changed(key):
    was = {"count": 10_000, "dimension": 64, "first": "a" * 64}
    now = {**was, key: was[key] + 50, "first": "b" * 64}
    assert changes({"collection c": was}, {"collection c": now}) == [
        f"collection c: {key} {was[key]} -> {was[key] + 50}"
    ]


def files_run(tmp_path):
    """An ask/tell config over `source.data` files (3000 x 16 and their metadata)."""
    config = write(tmp_path, "lab", external=True)
    raw = yaml.safe_load(config.read_text())
    np.save(tmp_path / "emb.npy", CORPUS.embeddings)
    lines = [json.dumps(row) for row in CORPUS.metadata]
    (tmp_path / "meta.jsonl").write_text("".join(line + "\n" for line in lines))
    raw["source"]["data"] = {"kind": "files", "embeddings": "emb.npy", "metadata": "meta.jsonl"}
    config.write_text(yaml.safe_dump(raw))
    return config


def test_unchanged_files_are_not_read_again_and_an_edit_is_still_refused(
    tmp_path, capsys, monkeypatch
):
    config = files_run(tmp_path)
    run = tmp_path / "lab"
    assert main(["ask", str(config), "--n", "3"]) == 0
    assert (run / sourcedata.CACHE).exists()
    hashed = []
    monkeypatch.setattr(
        sourcedata, "file_fingerprint", lambda path: hashed.append(path) or file_fingerprint(path)
    )
    assert main(["ask", str(run), "--n", "3"]) == 0
    assert hashed == []  # the kept fingerprint
    capsys.readouterr()
    metadata = tmp_path / "meta.jsonl"
    written = metadata.stat().st_mtime_ns
    text = metadata.read_text()
    metadata.write_text(text.replace("0.", "1.", 1))  # the same size
    os.utime(metadata, ns=(written, written))  # and mtime: only its ctime tells
    assert main(["ask", str(run), "--n", "3"]) == 2
    error = capsys.readouterr().err
    assert "refused, the source data changed: source.data.metadata: content changed" in error
    assert metadata.resolve() in [path.resolve() for path in hashed]


def test_only_files_read_in_process_are_kept_by_identity(tmp_path):
    (tmp_path / "emb.npy").write_bytes(b"x")
    files = {"kind": "files", "embeddings": str(tmp_path / "emb.npy")}
    synthetic = {"kind": "synthetic", "n": 10, "dim": 4, "seed": 0}
    identity = {
        (backend, data["kind"]): files_identity(SourceConfig(backend=backend, data=data))
        for backend in ("faiss", "pgvector")
        for data in (files, synthetic)
    }
    assert identity.pop(("faiss", "files")) is not None
    assert set(identity.values()) == {None}  # a collection, generated data: checked each time
