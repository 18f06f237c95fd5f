"""The fingerprint of a run's data files: whole, or sampled (then a new mtime is a change),
kept in the run directory while the files' identity (size, mtime, ctime, inode) stays."""

from __future__ import annotations

import csv
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


def scored(plate: str) -> str:
    """The asked CSV `plate` with a score in each row."""
    with open(plate, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["score"] = str(int(row["id"]) % 7 / 7)
    filled = plate.removesuffix(".csv") + "-scored.csv"
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return filled


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
    assert main(["ask", str(config)]) == 0
    assert (run / sourcedata.CACHE).exists()
    plate = scored(capsys.readouterr().out.strip())
    hashed = []
    monkeypatch.setattr(
        sourcedata, "file_fingerprint", lambda path: hashed.append(path) or file_fingerprint(path)
    )
    assert main(["tell", str(run), plate]) == 0  # ends the round: opens the source
    assert hashed == []  # the kept fingerprint
    capsys.readouterr()
    metadata = tmp_path / "meta.jsonl"
    written = metadata.stat().st_mtime_ns
    text = metadata.read_text()
    metadata.write_text(text.replace("0.", "1.", 1))  # the same size
    os.utime(metadata, ns=(written, written))  # and mtime: only its ctime tells
    assert main(["ask", str(run), "--n", "3"]) == 2  # a new round opens the source
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


# --- a file over 64 MiB changed where its samples do not look -------------------------------


def big_files_run(tmp_path):
    """An ask/tell config over an embeddings file over 64 MiB (70,000 x 256 float32)."""
    config = write(tmp_path, "lab", external=True)
    raw = yaml.safe_load(config.read_text())
    rng = np.random.default_rng(0)
    np.save(tmp_path / "emb.npy", rng.standard_normal((70_000, 256), dtype=np.float32))
    raw["source"] = {"backend": "faiss", "k": 5, "data": {"kind": "files", "embeddings": "emb.npy"}}
    config.write_text(yaml.safe_dump(raw))
    assert (tmp_path / "emb.npy").stat().st_size > sourcedata.WHOLE_FILE_LIMIT
    return config


def between_samples(size: int) -> int:
    """An offset no sampled block of a file of `size` bytes covers."""
    last = size - sourcedata.BLOCK_BYTES
    starts = [last * block // (sourcedata.SAMPLED_BLOCKS - 1) for block in range(64)]
    end, following = starts[0] + sourcedata.BLOCK_BYTES, starts[1]
    assert following > end + 8, "no gap between the sampled blocks"
    return (end + following) // 2


def edit_between_samples(path, replace: bool) -> None:
    """Change 8 bytes of `path` between two sampled blocks (in place, or in a copy put in its
    place) and set its mtime back."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    offset = between_samples(len(data))
    data[offset : offset + 8] = np.array([1e6, -1e6], dtype=np.float32).tobytes()
    target = path.with_name("copy.npy") if replace else path
    with open(target, "r+b" if target.exists() else "wb") as handle:
        handle.write(data)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    if replace:
        os.replace(target, path)
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size


@pytest.mark.slow  # a 72 MB file
@pytest.mark.parametrize(
    ("replace", "says"),
    [(False, "modified since the run started (ctime "), (True, "another file since the run")],
    ids=["in place", "replaced"],
)
def test_a_big_file_changed_between_its_samples_is_caught(tmp_path, capsys, replace, says):
    config = big_files_run(tmp_path)
    run = tmp_path / "lab"
    assert main(["ask", str(config)]) == 0
    plate = scored(capsys.readouterr().out.strip())
    assert main(["tell", str(run), plate]) == 0  # the next ask opens a round
    before = sourcedata.file_fingerprint(tmp_path / "emb.npy")
    edit_between_samples(tmp_path / "emb.npy", replace)
    assert sourcedata.file_fingerprint(tmp_path / "emb.npy")["sha256"] == before["sha256"]
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    status = capsys.readouterr().out
    identity = "inode" if replace else "ctime"
    assert "changed since the last check: source.data.embeddings (" in status
    assert identity in status.split("source.data.embeddings (")[1].split(")")[0]
    assert main(["ask", str(run), "--n", "3"]) == 2
    error = capsys.readouterr().err
    assert "refused, the source data changed: source.data.embeddings: " + says in error
    assert "hashed in samples" in error and "--accept-changed-data" in error
    assert main(["status", str(run)]) == 0
    assert "refused: source.data.embeddings: " + says in capsys.readouterr().out
    assert main(["ask", str(run), "--n", "3", "--accept-changed-data"]) == 0
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    status = capsys.readouterr().out
    assert "changed since the last check" not in status and "accepted: " in status


def test_fingerprints_of_earlier_versions_compare_by_what_they_recorded():
    """Files recorded without ctime or inode, collections without a sample: no change."""
    file = {"size": 10, "mtime": 5.0, "sha256": "a" * 64, "hashed": "sampled"}
    items = {"count": 10, "dimension": 4, "first": "b" * 64}
    before = {"source.data.embeddings": file, "collection c": items}
    now = {
        "source.data.embeddings": {**file, "path": "/x", "ctime": 9.0, "inode": 7},
        "collection c": {**items, "sampled_ids": [1, 2], "sampled": "c" * 64},
    }
    assert changes(before, now) == []
    now["source.data.embeddings"]["mtime"] = 6.0
    assert changes(before, now)[0].startswith("source.data.embeddings: modified since the run")
