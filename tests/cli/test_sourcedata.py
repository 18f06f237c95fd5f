"""The fingerprint of a run's data files: whole, or sampled (then a new mtime is a change)."""

from __future__ import annotations

import os

import pytest

from emb_opt.cli import sourcedata
from emb_opt.cli.sourcedata import changes, file_fingerprint


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
