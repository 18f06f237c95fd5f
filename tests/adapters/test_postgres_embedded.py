"""The PostgreSQL a pgvector config with `path:` starts: its data outlives the server, the
server ends by its pid, and an unusable directory is one clear error."""

from __future__ import annotations

import pytest
from engines import _start_time, postgres_skip_reason

from emb_opt.adapters.postgres_embedded import EmbeddedPostgres
from emb_opt.errors import BackendError

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(postgres_skip_reason() is not None, reason=str(postgres_skip_reason())),
]


def test_the_data_outlives_the_server_and_the_server_ends_by_its_pid(reachable_dir):
    import psycopg

    data = reachable_dir / "pg"
    server = EmbeddedPostgres(data, durable=False).start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id int)")
            conn.execute("INSERT INTO kept VALUES (7)")
        pid = server.pid
        assert pid is not None and _start_time(pid) is not None
    finally:
        server.stop()
    assert _start_time(pid) is None and not (data / "postmaster.pid").exists()

    again = EmbeddedPostgres(data, durable=False).start()  # no initdb: the same cluster
    try:
        with psycopg.connect(again.url, autocommit=True) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(7,)]
    finally:
        again.stop()


def test_a_directory_that_is_not_a_cluster_is_one_line_naming_it(reachable_dir):
    (reachable_dir / "pg").mkdir()
    (reachable_dir / "pg" / "notes.txt").write_text("not a database")
    with pytest.raises(BackendError) as error:
        EmbeddedPostgres(reachable_dir / "pg", durable=False).start()
    message = str(error.value)
    assert "\n" not in message and str(reachable_dir / "pg") in message
