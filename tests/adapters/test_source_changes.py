"""A database collection whose vectors changed beyond the first scan page is caught: every
ask/tell that opens the source (a round begins or ends) checks 64 items sampled across the
collection when the run started (fetched by id), and `status` says when the last check was
and what it found. On embedded PostgreSQL + pgvector, LanceDB and embedded Chroma."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from engines import postgres_skip_reason

from emb_opt.cli.main import main
from emb_opt.config import build_run, load_config

N, DIMENSION, COLLECTION = 500, 8, "fingerprinted"
MOVED = [1.0] * DIMENSION  # where the changed items' vectors go


def change_pgvector(path: Path, keep: list[Any]) -> None:
    import psycopg

    from emb_opt.adapters.postgres_embedded import EmbeddedPostgres

    server = EmbeddedPostgres(path).start()  # joins the server, or starts it again
    try:
        with psycopg.connect(server.url) as connection:
            connection.execute(
                f"UPDATE {COLLECTION} SET embedding = %s::vector WHERE NOT id = ANY(%s)",
                [str(MOVED), keep],
            )
    finally:
        server.stop()


def change_lancedb(path: Path, keep: list[Any]) -> None:
    import lancedb

    table = lancedb.connect(path).open_table(COLLECTION)
    table.update(where=f"id NOT IN ({', '.join(map(str, keep))})", values={"vector": MOVED})


def change_chroma(path: Path, keep: list[Any]) -> None:
    import chromadb

    collection = chromadb.PersistentClient(path=str(path)).get_collection(COLLECTION)
    kept = {str(id) for id in keep}
    moved = [id for id in collection.get(include=[])["ids"] if id not in kept]
    collection.update(ids=moved, embeddings=[MOVED] * len(moved))


def pgvector_skip() -> None:
    if reason := postgres_skip_reason():
        pytest.skip(reason)


CHANGES: dict[str, tuple[Callable[[Path, list[Any]], None], Callable[[], Any]]] = {
    "pgvector": (change_pgvector, pgvector_skip),
    "lancedb": (change_lancedb, lambda: pytest.importorskip("lancedb")),
    "chroma": (change_chroma, lambda: pytest.importorskip("chromadb")),
}


def first_page(config: Path) -> list[Any]:
    """The ids of the first 32 items a scan of the run's source yields (what runs of earlier
    versions hashed)."""
    run = build_run(load_config(config)[0])
    try:
        return list(next(iter(run.source.scan(batch_size=32))).ids)
    finally:
        run.close()


def status_line(run: Path, capsys) -> str:
    assert main(["status", str(run)]) == 0
    (line,) = [s for s in capsys.readouterr().out.splitlines() if s.startswith("source ")]
    return line


@pytest.mark.slow  # starts embedded databases
@pytest.mark.parametrize("backend", list(CHANGES))
def test_vectors_changed_beyond_the_first_page_are_refused_and_status_says_so(
    backend, tmp_path, reachable_dir, capsys, monkeypatch
):
    change, skip = CHANGES[backend]
    skip()
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    database = reachable_dir / backend
    source = {"backend": backend, "path": str(database), "collection": COLLECTION, "k": 5}
    source["data"] = {"kind": "synthetic", "n": N, "dim": DIMENSION, "seed": 0}
    config = tmp_path / "lab.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "source": source,
                "score": {"external": True},
                "start": {"random": 4, "seed": 1},
                "stop": {"iterations": 10},
                "output": {"dir": "lab"},
            }
        )
    )
    run = tmp_path / "lab"
    assert main(["ask", str(config)]) == 0
    plate = Path(capsys.readouterr().out.strip())
    recorded = json.loads((run / "manifest.json").read_text())["source_data"]
    assert len(recorded[f"collection {COLLECTION}"]["sampled_ids"]) == 64
    assert "unchanged at the last check" in status_line(run, capsys)

    change(database, first_page(config))
    ids = [line.split(",")[0] for line in plate.read_text().splitlines()[1:]]
    scores = tmp_path / "scores.csv"
    scores.write_text("id,score\n" + "".join(f"{id},0.5\n" for id in ids))
    assert main(["tell", str(run), str(scores)]) == 2  # it ends the round: the source opens
    error = capsys.readouterr().err
    assert f"the source data changed: collection {COLLECTION}: of 64 items sampled" in error
    assert "refused: collection " in status_line(run, capsys)
    assert main(["tell", str(run), str(scores), "--accept-changed-data"]) == 0
    assert "accepted: collection " in status_line(run, capsys)
    assert main(["ask", str(run), "--n", "2"]) == 0  # a new round: the data as it is now
    assert "unchanged at the last check" in status_line(run, capsys)
