"""The log on disk: what it holds, that it grows with information only, and that it refuses
to resume from lines that are missing, out of order or corrupt."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from emb_opt import Runner, SearchLog
from emb_opt.errors import LogError
from emb_opt.log import CHECKPOINTS, LogWriter, load_log, open_log, save_log
from emb_opt.log._format import with_checksum
from emb_opt.objectives import TargetScore
from emb_opt.update import RLUpdate, TopKDiscreteUpdate


def search(source, batch, iterations, log=None, update=None):
    runner = Runner(source, None, TargetScore(), None, update or RLUpdate(lrs=[0.1, 0.4]))
    return runner.search(batch, iterations, log=log, verbose=False)[1]


def checkpointed(source, batch, tmp_path, iterations=5, update=None):
    """A search checkpointed after every iteration, as `emb-opt run` does."""
    writer = None

    def checkpoint(log):
        writer.append(log)

    log = SearchLog(pending=batch)
    writer = LogWriter.create(tmp_path / "log", log)
    runner = Runner(source, None, TargetScore(), None, update or RLUpdate(lrs=[0.1, 0.4]))
    runner.search(None, iterations, log=log, verbose=False, on_iteration=checkpoint)
    return log, tmp_path / "log"


def lines(directory):
    return (directory / CHECKPOINTS).read_text().splitlines(keepends=True)


def test_a_saved_log_loads_as_it_was(numpy_source, start_batch, tmp_path):
    log = search(numpy_source, start_batch, 4)
    save_log(log, tmp_path / "log")
    loaded = load_log(tmp_path / "log")
    assert loaded.counters == log.counters and loaded.history == log.history
    assert loaded.compile_results()[0]["id"] == log.compile_results()[0]["id"]
    assert [r["score"] for r in loaded.compile_results()] == [
        r["score"] for r in log.compile_results()
    ]
    assert set(loaded.score_cache) == set(log.score_cache)
    assert list(loaded.query_tree.nodes) == list(log.query_tree.nodes)
    for before, after in zip(log.batches, loaded.batches):  # past queries: kept as float32
        for q, r in zip(before.queries, after.queries):
            assert np.array_equal(q.embedding.astype(np.float32), r.embedding)
            assert q.internal == r.internal
            assert [(i.id, i.score, i.internal.removal_reason) for i in q.query_results] == [
                (i.id, i.score, i.internal.removal_reason) for i in r.query_results
            ]
    pending = zip(log.pending.queries, loaded.pending.queries)  # what a resume starts from: exact
    assert all(np.array_equal(a.embedding, b.embedding) for a, b in pending)


def test_save_replaces_a_log_only_when_the_new_one_is_complete(numpy_source, start_batch, tmp_path):
    save_log(search(numpy_source, start_batch, 2), tmp_path / "log")
    log = search(numpy_source, start_batch, 3)
    save_log(log, tmp_path / "log")
    assert load_log(tmp_path / "log").counters.iterations == 3
    assert [p.name for p in tmp_path.iterdir()] == ["log"]


def test_each_embedding_is_stored_once_in_binary(numpy_source, start_batch, tmp_path):
    """Items (float32 in the database) and past queries (rounded) in vectors.f32."""
    log, directory = checkpointed(numpy_source, start_batch, tmp_path)
    vectors = np.fromfile(directory / "vectors.f32", dtype="<f4").reshape(-1, 16)
    assert not (directory / "vectors.f64").exists()
    embeddings = [i.embedding for i in [*log.items.values(), *log.candidates.values()]]
    embeddings += [n.embedding.astype(np.float32) for n in log.query_tree.nodes.values()]
    distinct = {np.asarray(e, dtype=np.float32).tobytes() for e in embeddings}
    assert len(vectors) == len(distinct)
    assert {row.tobytes() for row in vectors} == distinct
    assert "[0." not in (directory / CHECKPOINTS).read_text()  # no float lists in the lines


def test_an_iteration_that_finds_nothing_new_appends_only_references(
    numpy_source, start_batch, tmp_path
):
    _, directory = checkpointed(
        numpy_source, start_batch, tmp_path, iterations=12, update=TopKDiscreteUpdate(4)
    )
    rows, calls, idle = None, None, []
    for text in lines(directory):
        line = json.loads(text)
        if line["counters"]["score_calls"] == calls:
            idle.append((len(text), line["vectors"] != rows, line["items"]))
        rows, calls = line["vectors"], line["counters"]["score_calls"]
    assert idle, "the top-k search should settle and stop finding new items"
    assert all(size < 3000 and not new_rows and not items for size, new_rows, items in idle)


def test_a_torn_last_line_is_dropped_and_writing_goes_on(numpy_source, start_batch, tmp_path):
    log, directory = checkpointed(numpy_source, start_batch, tmp_path)
    text = lines(directory)
    (directory / CHECKPOINTS).write_text("".join(text[:-1]) + text[-1][: len(text[-1]) // 2])
    for name in ("vectors.f32",):
        with open(directory / name, "ab") as handle:
            handle.write(b"\0" * 100)  # vector rows written before a line that never came
    loaded, writer = open_log(directory)
    assert loaded.counters.iterations == log.counters.iterations - 1
    assert (directory / "vectors.f32").stat().st_size % (16 * 4) == 0
    runner = Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.1, 0.4]))
    runner.search(None, 2, log=loaded, verbose=False, on_iteration=writer.append)
    again = load_log(directory)
    assert again.counters.iterations == log.counters.iterations + 1
    assert [r["id"] for r in again.compile_results()] == [r["id"] for r in loaded.compile_results()]


def rewrite(directory, change):
    text = lines(directory)
    (directory / CHECKPOINTS).write_text("".join(change(text)))


def signed(line, old, new):
    """`line` with `old` replaced by `new` and a checksum that matches again."""
    body = json.loads(line)
    body.pop("checksum")
    text = json.dumps(body, separators=(",", ":")).replace(old, new)
    return with_checksum(text) + "\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[:2] + t[3:], "line 3 holds checkpoint 3, expected 2: a checkpoint before"),
        (lambda t: [t[0], t[2], t[1], *t[3:]], "line 2 holds checkpoint 2, expected 1"),
        (lambda t: [*t[:3], t[3].replace('"iteration":3', '"iteration":4'), *t[3:]],
         "line 4 is corrupt"),
        (lambda t: [*t[:2], signed(t[1], '"iteration":1', '"iteration":7'), *t[2:]],
         "line 3 holds checkpoint 1, expected 2: it repeats the checkpoint before it with"),
        (lambda t: [*t[:2], signed(t[2], '"sequence":2', '"sequence":9'), *t[3:]],
         "line 3 holds checkpoint 9, expected 2"),
        (lambda t: [t[0], t[1][:40] + "\n", *t[2:]], "line 2 is corrupt"),
    ],
    ids=["gap", "reordered", "edited", "disagreeing-duplicate", "renumbered", "torn-in-middle"],
)  # fmt: skip
def test_a_log_whose_lines_do_not_follow_is_refused(
    numpy_source, start_batch, tmp_path, change, message
):
    _, directory = checkpointed(numpy_source, start_batch, tmp_path)
    rewrite(directory, change)
    with pytest.raises(LogError, match=message):
        load_log(directory)


def test_the_same_line_twice_is_one_checkpoint(numpy_source, start_batch, tmp_path):
    log, directory = checkpointed(numpy_source, start_batch, tmp_path)
    rewrite(directory, lambda t: [*t[:3], t[2], *t[3:]])
    assert load_log(directory).counters == log.counters


def test_a_missing_or_corrupt_state_file_is_refused(tmp_path, numpy_source, start_batch):
    from emb_opt.update import EvolutionUpdate

    _, directory = checkpointed(numpy_source, start_batch, tmp_path, update=EvolutionUpdate())
    state = directory / f"state-{json.loads(lines(directory)[-1])['state']['slot']}.json"
    state.write_text(state.read_text().replace("1", "2", 1))
    with pytest.raises(LogError, match=r"the state .* is corrupt"):
        load_log(directory)
    state.unlink()
    with pytest.raises(LogError, match=r"the state .* is missing"):
        load_log(directory)


def exact_float64(source):
    """`source` with item embeddings that are not float32 (so they go to vectors.f64)."""

    def call(queries):
        responses = source(queries)
        for response in responses:
            for item in response.query_results:
                item.embedding = np.asarray(item.embedding, dtype=np.float64) + 1e-9
        return responses

    return call


@pytest.mark.parametrize("name", ["vectors.f32", "vectors.f64"])
def test_a_changed_vector_byte_is_refused_naming_the_file_range_and_line(
    numpy_source, start_batch, tmp_path, name
):
    _, directory = checkpointed(exact_float64(numpy_source), start_batch, tmp_path)
    path = directory / name
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0x40
    path.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    with pytest.raises(LogError) as refused:
        open_log(directory)
    message = str(refused.value)
    assert "\n" not in message
    found = re.fullmatch(
        rf"{re.escape(str(path))}: bytes (\d+)-(\d+) differ from those "
        rf"{re.escape(str(directory / CHECKPOINTS))}: line (\d+) appended .*",
        message,
    )
    assert found, message
    start, end, number = map(int, found.groups())
    assert start <= middle < end
    line = json.loads(lines(directory)[number - 1])
    assert ("vector32" if name == "vectors.f32" else "vector") in line["blocks"]
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before  # nothing modified


def test_a_log_written_without_block_checksums_still_loads(numpy_source, start_batch, tmp_path):
    log, directory = checkpointed(numpy_source, start_batch, tmp_path)
    text = lines(directory)
    assert all('"blocks":' in line for line in text)
    rewrite(directory, lambda t: [strip_blocks(line) for line in t])
    assert '"blocks"' not in (directory / CHECKPOINTS).read_text()
    loaded, writer = open_log(directory)
    assert loaded.counters == log.counters
    assert [r["id"] for r in loaded.compile_results()] == [r["id"] for r in log.compile_results()]
    runner = Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.1, 0.4]))
    runner.search(None, 2, log=loaded, verbose=False, on_iteration=writer.append)
    assert '"blocks"' in lines(directory)[-1]  # new lines carry them, old ones still load
    assert load_log(directory).counters == loaded.counters


def strip_blocks(line):
    """`line` as written before lines recorded their vector blocks."""
    body = json.loads(line)
    body.pop("checksum")
    body.pop("blocks", None)
    return with_checksum(json.dumps(body, separators=(",", ":"))) + "\n"


def go_on(source, directory, iterations=1, lrs=(0.1, 0.4)):
    """Open the log in `directory` and search `iterations` more, checkpointed; the log."""
    log, writer = open_log(directory)
    runner = Runner(source, None, TargetScore(), None, RLUpdate(lrs=list(lrs)))
    runner.search(None, iterations, log=log, verbose=False, on_iteration=writer.append)
    return log


def tail(path, start):
    return path.read_bytes()[start:] if path.exists() else b""


def fork(directory, other, base, vectors):
    """Add to `directory` what the writer of `other` (a copy of it at `base`: the bytes of
    each file then) wrote since: its lines, state files and vector rows (`vectors`: after
    the rows already there, or in place of the rows `directory`'s writer added)."""
    for name in ("vectors.f32", "vectors.f64"):
        mine = (directory / name).read_bytes() if (directory / name).exists() else b""
        kept = mine if vectors == "after" else mine[: base.get(name, 0)]
        theirs = tail(other / name, base.get(name, 0))
        if kept or theirs:
            (directory / name).write_bytes(kept + theirs)
    for state in other.glob("state-*.json"):
        shutil.copy(state, directory / state.name)
    with open(directory / CHECKPOINTS, "ab") as handle:
        handle.write(tail(other / CHECKPOINTS, base[CHECKPOINTS]))


def sizes(directory):
    return {p.name: p.stat().st_size for p in directory.iterdir()}


def test_a_line_a_second_writer_appended_at_once_costs_only_that_line(
    numpy_source, start_batch, tmp_path, caplog
):
    _, directory = checkpointed(numpy_source, start_batch, tmp_path)
    other = shutil.copytree(directory, tmp_path / "other")
    base = sizes(directory)
    first = go_on(numpy_source, directory)
    go_on(numpy_source, other, lrs=(0.3, 2.0))  # another command, its lock sidestepped
    fork(directory, other, base, vectors="after")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    loaded = load_log(directory)  # the reader keeps every earlier checkpoint
    assert loaded.counters == first.counters and loaded.history == first.history
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "emb_opt.log"]
    assert warning.startswith(
        f"{directory / CHECKPOINTS}: line 8 set aside (line 8 holds checkpoint 6, expected 7: "
        "it repeats the checkpoint before it with different content): two commands wrote the "
        "run at once (was the run directory's lock removed, "
    )
    assert warning.endswith(
        "the run is read as of checkpoint 6 (line 7), without what line 8 recorded (left "
        "where it is)"
    )
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before  # reading changes none
    caplog.clear()
    resumed = go_on(numpy_source, directory, iterations=2)  # the next writer goes on from line 7
    assert "moved to" in caplog.records[0].getMessage()
    caplog.clear()
    again = load_log(directory)
    assert not caplog.records and again.counters == resumed.counters
    assert again.counters.iterations == first.counters.iterations + 2
    assert (directory / "set-aside.jsonl").read_bytes() == lines(other)[-1].encode()
    named = {json.loads(line)["state"]["slot"] for line in lines(directory)[-2:]}
    assert {p.name for p in directory.glob("state-*.json")} == {f"state-{s}.json" for s in named}


def test_of_two_lines_for_one_checkpoint_the_one_that_reads_back_is_kept(
    numpy_source, start_batch, tmp_path, caplog
):
    _, directory = checkpointed(numpy_source, start_batch, tmp_path)
    other = shutil.copytree(directory, tmp_path / "other")
    base = sizes(directory)
    go_on(numpy_source, directory)
    second = go_on(exact_float64(numpy_source), other)  # its rows go to vectors.f64
    fork(directory, other, base, vectors="instead")  # the second cut the first one's rows
    loaded = load_log(directory)
    assert loaded.counters == second.counters
    assert [r["id"] for r in loaded.compile_results()] == [
        r["id"] for r in second.compile_results()
    ]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "line 7 set aside (line 7 does not fit the lines before it: it refers to more " in (
        warning
    )
    go_on(numpy_source, directory)
    assert load_log(directory).counters.iterations == second.counters.iterations + 1
    assert (directory / "set-aside.jsonl").read_text().count("\n") == 1


def test_a_writer_that_finds_lines_it_did_not_read_writes_none(numpy_source, start_batch, tmp_path):
    _, directory = checkpointed(numpy_source, start_batch, tmp_path)
    late, late_writer = open_log(directory)  # a second command, its lock sidestepped
    first = go_on(numpy_source, directory)
    written = (directory / CHECKPOINTS).read_bytes()
    runner = Runner(numpy_source, None, TargetScore(), None, RLUpdate(lrs=[0.3, 2.0]))
    with pytest.raises(LogError, match=r"changed since this command read it: another command"):
        runner.search(None, 1, log=late, verbose=False, on_iteration=late_writer.append)
    assert (directory / CHECKPOINTS).read_bytes() == written
    assert load_log(directory).counters == first.counters
    go_on(numpy_source, directory)  # the rows and state the refused writer left are dropped
    named = {json.loads(line)["state"]["slot"] for line in lines(directory)[-2:]}
    assert {p.name for p in directory.glob("state-*.json")} == {f"state-{s}.json" for s in named}
    assert load_log(directory).counters.iterations == first.counters.iterations + 1


def test_a_garbled_last_line_is_set_aside_but_a_changed_one_before_it_is_refused(
    numpy_source, start_batch, tmp_path
):
    log, directory = checkpointed(numpy_source, start_batch, tmp_path)
    text = lines(directory)
    rewrite(directory, lambda t: [*t, t[-1][: len(t[-1]) // 2] + t[-2][len(t[-2]) // 2 :]])
    assert load_log(directory).counters == log.counters
    rewrite(directory, lambda t: [*text[:-2], text[-1], text[-2]])
    with pytest.raises(LogError, match="line 5 holds checkpoint 5, expected 4"):
        load_log(directory)
