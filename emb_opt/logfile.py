"""A search log on disk: a directory that grows with what the search learned.

    checkpoints.jsonl    one JSON line per checkpoint: what the log gained since the last one
    vectors.f32          every distinct embedding that is exactly float32 (as a database's
                         items are) and every past query's, rounded to float32, once
    vectors.f64          every other distinct item embedding, once (little-endian rows)
    state-a.json, -b.json  what the last checkpoint resumes from: the pending queries (exact),
                         the strategy's state and the caller's annex, if any (the other
                         slot: an earlier checkpoint's)

Lines refer to items by number and to embeddings by row, so an iteration that finds nothing
new appends only its queries and references. Each line carries its sequence number, the
iteration, the SHA-256 of the vector bytes it appended (`blocks`) and a SHA-256 checksum of
itself. Reading drops a torn last line (a crash while writing) and refuses, with a `LogError`
naming the line, a gap, a reordering, a duplicate that disagrees, a corrupt line before the
last or vector bytes that differ from those a line appended. Logs whose lines have no `blocks`
(written before them) and version 1 logs (one `log.json` file) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .atomic import naming
from .direction import as_direction
from .errors import LogError
from .log import BatchRecord, Counters, SearchLog
from .schemas import Batch, FilterResponse, Item, ItemInternal, Query, QueryInternal, ScoreResponse
from .update.state import decode, encode

FORMAT = 2
CHECKPOINTS = "checkpoints.jsonl"
VECTOR_FILES: dict[str, tuple[str, np.dtype[Any]]] = {
    "vector32": ("vectors.f32", np.dtype("<f4")),
    "vector": ("vectors.f64", np.dtype("<f8")),
}
_CHECKSUM = ',"checksum":"'
_RESPONSES: dict[str, type[FilterResponse] | type[ScoreResponse]] = {
    "filter": FilterResponse,
    "score": ScoreResponse,
}


@dataclass
class _Written:
    """How much of a log a writer has put on disk."""

    sequence: int = -1
    journal: int = 0
    batches: int = 0
    history: int = 0
    reasons: int = 0
    vectors: _Vectors = field(default_factory=lambda: _Vectors())
    state: dict[str, str] | None = None  # the slot and digest of the last line's state
    annex: dict[str, Any] | None = None  # what the caller kept with the last line's state


class LogWriter:
    """Appends checkpoints of one `SearchLog` to a log directory.

    Each checkpoint is written before `append` returns, so a killed process loses nothing it
    checkpointed. The files are flushed to disk (fsync) at most every `sync_every` seconds,
    vectors and state before the lines, and by `sync()`: a crash of the whole machine may
    lose the checkpoints of that last interval.
    """

    def __init__(self, directory: Path, written: _Written, sync_every: float = 1.0) -> None:
        self.directory = directory
        self.sync_every = sync_every
        self._written = written
        self._unsynced: dict[Path, None] = {}
        self._synced_at = time.monotonic()

    @classmethod
    def create(cls, directory: str | os.PathLike, log: SearchLog) -> LogWriter:
        """Start a log directory for `log` (emptying one there) and write all of `log`."""
        directory = Path(directory)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        writer = cls(directory, _Written())
        writer.append(log)
        writer.sync()
        return writer

    def append(self, log: SearchLog, annex: dict[str, Any] | None = None) -> None:
        """Write what `log` gained since the last checkpoint: vectors, then the state (with
        `annex`, JSON the caller wants committed with this checkpoint, e.g. an open ask/tell
        iteration), then the line, so that whatever a crash cuts short, the lines before it
        read back, and the line is the one moment the checkpoint and its annex take effect."""
        done = self._written
        line = _Line(log, done).body()
        blocks = done.vectors.write(self.directory)
        self._wrote(*(self.directory / VECTOR_FILES[name][0] for name in blocks))
        state = self._write_state(log, annex)
        text = json.dumps({**line, "blocks": blocks, "state": state}, separators=(",", ":"))
        with (
            naming(self.directory / CHECKPOINTS),
            open(self.directory / CHECKPOINTS, "a") as handle,
        ):
            handle.write(_with_checksum(text) + "\n")
        self._wrote(self.directory / CHECKPOINTS)
        done.sequence += 1
        done.journal, done.batches = len(log.journal), len(log.batches)
        done.history, done.reasons = len(log.history), len(log.reasons)
        done.state, done.annex = state, annex
        if time.monotonic() - self._synced_at >= self.sync_every:
            self.sync()

    @property
    def sequence(self) -> int:
        """The sequence number of the last line written."""
        return self._written.sequence

    @property
    def annex(self) -> dict[str, Any] | None:
        """The annex of the last line written (or read)."""
        return self._written.annex

    def sync(self) -> None:
        """Flush every file written since the last sync to disk, the lines last."""
        for path in self._unsynced:
            descriptor = os.open(path, os.O_RDONLY)
            try:
                with naming(path):
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
        self._unsynced.clear()
        self._synced_at = time.monotonic()

    def _wrote(self, *paths: Path) -> None:
        for path in paths:
            self._unsynced.pop(path, None)
            self._unsynced[path] = None  # in writing order: the lines file comes last

    def _write_state(self, log: SearchLog, annex: dict[str, Any] | None) -> dict[str, str]:
        """Write what a resumed search starts from and the next line replaces, the pending
        queries (exact), the strategy's state and `annex`, to the slot file the last line does
        not name (so that one stays whole), unless it is what the last line named; return
        {"slot", "digest"}."""
        pending = None if log.pending is None else [_pending(q) for q in log.pending.queries]
        document = {"strategy": log.strategy_state, "pending": pending}
        if annex is not None:
            document["annex"] = annex
        text = json.dumps(document, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()[:20]
        last = self._written.state
        if last is not None and last["digest"] == digest:
            return last
        slot = "b" if last is not None and last["slot"] == "a" else "a"
        path = self.directory / f"state-{slot}.json"
        with naming(path):
            path.write_text(text)
        self._wrote(path)
        return {"slot": slot, "digest": digest}


class _Line:
    """The body of one checkpoint line: what `log` gained since `done`."""

    def __init__(self, log: SearchLog, done: _Written) -> None:
        self.log, self.done = log, done

    def body(self) -> dict[str, Any]:
        log, done = self.log, self.done
        caches: dict[str, dict[str, Any]] = {"filter": {}, "score": {}}
        items = []
        for kind, key in log.journal[done.journal :]:
            if kind in caches:
                caches[kind][key] = log.cache(kind)[key].model_dump(mode="json", exclude_none=True)
            else:
                items.append(self._item(kind, key))
        batches = [
            {
                "queries": [self._query(node.bare_query, node.hits, node.hit_reasons)
                            for node in batch.nodes],
                "acquired": batch.acquired_numbers,
            }
            for batch in log.batches[done.batches :]
        ]  # fmt: skip
        return {
            "format": FORMAT,
            "sequence": done.sequence + 1,
            "direction": log.direction.name,
            "iteration": log.counters.iterations,
            "items": items,
            "filter": caches["filter"],
            "score": caches["score"],
            "reasons": log.reasons[done.reasons :],
            "batches": batches,
            "history": log.history[done.history :],
            "counters": asdict(log.counters),
            "dimension": done.vectors.dimension,
            "vectors": dict(done.vectors.counts),
        }

    def _item(self, kind: str, key: str) -> dict[str, Any]:
        log = self.log
        item = log.candidates.get(key) if kind == "candidate" else None
        item = log.items[key] if item is None else item
        internal = item.internal
        record = {
            "kind": kind,
            "n": log.number(key),
            "key": key,
            "id": item.id,
            "item": item.item,
            **self.done.vectors.reference(item.embedding),
            "score": item.score,
            "data": item.data,
            "iteration": internal.iteration,
            "query": internal.query_id,
            "distance": internal.distance,
            "reason": internal.removal_reason if kind == "candidate" or internal.removed else None,
        }
        return {name: value for name, value in record.items() if value is not None}

    def _query(self, query: Query, hits: np.ndarray, reasons: np.ndarray | None) -> dict[str, Any]:
        """A past query: its place in the tree, its embedding (as float32), its results."""
        record = {
            **_query_fields(query),
            **self.done.vectors.reference(query.embedding, exact=False),
        }
        record["hits"] = hits.tolist()
        if reasons is not None:
            record["reasons"] = reasons.tolist()
        return record


def _query_fields(query: Query) -> dict[str, Any]:
    """The fields of a query record but its embedding and results (those not None)."""
    internal = query.internal
    record = {
        "id": internal.id,
        "parent": internal.parent_id,
        "trajectory": internal.collection_id,
        "iteration": internal.iteration,
        "removed": internal.removal_reason if internal.removed else None,
        "item": query.item,
        "data": query.data,
        "extra": query.model_extra or None,
    }
    return {name: value for name, value in record.items() if value is not None}


def _pending(query: Query) -> dict[str, Any]:
    """A query to resume from: its fields and its exact embedding."""
    return {**_query_fields(query), "embedding": encode(np.asarray(query.embedding))}


class _Vectors:
    """The embeddings of a log, each distinct one once: in `vectors.f32` when it is exactly
    float32 (as most databases' are), in `vectors.f64` otherwise (as strategies' queries)."""

    def __init__(self) -> None:
        self.dimension: int | None = None
        self.rows: dict[bytes, dict[str, int]] = {}  # digest of the float64 bytes -> reference
        self.counts = dict.fromkeys(VECTOR_FILES, 0)
        self.queued: dict[str, list[np.ndarray]] = {name: [] for name in VECTOR_FILES}
        self.read: dict[str, np.ndarray] = {}

    def reference(self, embedding: np.ndarray, exact: bool = True) -> dict[str, int]:
        """{"vector32" | "vector": row} of `embedding` (rounded to float32 unless `exact`),
        queued for writing when new."""
        vector = np.asarray(embedding, dtype=np.float64)
        if not exact:
            vector = vector.astype(np.float32).astype(np.float64)
        if self.dimension is None:
            self.dimension = len(vector)
        elif vector.shape != (self.dimension,):
            raise LogError(
                f"the log holds {self.dimension}-dimensional embeddings; got one of shape "
                f"{vector.shape}"
            )
        digest = hashlib.sha1(vector.tobytes()).digest()
        found = self.rows.get(digest)
        if found is None:
            single = vector.astype(np.float32)
            name = "vector32" if np.array_equal(single, vector) else "vector"
            found = self.rows[digest] = {name: self.counts[name]}
            self.counts[name] += 1
            self.queued[name].append(single if name == "vector32" else vector)
        return found

    def write(self, directory: Path) -> dict[str, str]:
        """Append the queued rows to their files; return the SHA-256 of the bytes appended to
        each file written, by vector kind."""
        blocks = {}
        for name, rows in self.queued.items():
            if rows:
                file, dtype = VECTOR_FILES[name]
                block = np.asarray(rows, dtype=dtype).tobytes()
                with naming(directory / file), open(directory / file, "ab") as handle:
                    handle.write(block)
                blocks[name] = hashlib.sha256(block).hexdigest()
                rows.clear()
        return blocks

    def vector(self, directory: Path, record: dict[str, Any]) -> np.ndarray:
        """The embedding a record refers to (a copy)."""
        name = "vector32" if "vector32" in record else "vector"
        return self._rows(directory, name)[record[name]].copy()

    def _rows(self, directory: Path, name: str) -> np.ndarray:
        """The whole rows in the file of vector kind `name` (read once)."""
        if name not in self.read:
            file, dtype = VECTOR_FILES[name]
            path, width = directory / file, dtype.itemsize * (self.dimension or 0)
            whole = path.stat().st_size // width if width and path.exists() else 0
            self.read[name] = np.fromfile(path, dtype, whole * (self.dimension or 0)).reshape(
                whole, self.dimension or 0
            )
        return self.read[name]

    def follow(
        self,
        directory: Path,
        dimension: int | None,
        counts: dict[str, int],
        blocks: dict[str, str] | None,
    ) -> None:
        """Take in the rows a line says the files hold (a reader catching up), checking the
        bytes it appended against their SHA-256 in `blocks` (None: a line written before
        lines recorded them)."""
        self.dimension = dimension if dimension is not None else self.dimension
        for name, count in counts.items():
            if blocks is not None and count > self.counts[name]:
                self._check(directory, name, count, blocks.get(name))
            while self.counts[name] < count:
                row = self.vector(directory, {name: self.counts[name]})
                self.rows[hashlib.sha1(row.astype(np.float64).tobytes()).digest()] = {
                    name: self.counts[name]
                }
                self.counts[name] += 1

    def _check(self, directory: Path, name: str, count: int, digest: str | None) -> None:
        """Raise `_ChangedBlock` unless rows up to `count` past those taken in hash to `digest`."""
        rows = self._rows(directory, name)
        if len(rows) < count:
            return  # fewer rows than the line names: `vector` says so
        block = rows[self.counts[name] : count]
        if hashlib.sha256(block.data).hexdigest() != digest:
            width = rows.itemsize * (self.dimension or 0)
            file = directory / VECTOR_FILES[name][0]
            raise _ChangedBlock(file, self.counts[name] * width, count * width)

    def cut(self, directory: Path) -> None:
        """Drop rows past those the lines refer to (written before a line that never came)."""
        for name, (file, dtype) in VECTOR_FILES.items():
            size = self.counts[name] * dtype.itemsize * (self.dimension or 0)
            path = directory / file
            if path.exists() and path.stat().st_size > size:
                with open(path, "r+b") as handle:
                    handle.truncate(size)


class _ChangedBlock(Exception):
    """Vector bytes that differ from those a checkpoint line appended."""

    def __init__(self, file: Path, start: int, end: int) -> None:
        super().__init__(file, start, end)
        self.file, self.start, self.end = file, start, end


def save_log(log: SearchLog, path: str | os.PathLike) -> None:
    """Write all of `log` to the directory `path`, replacing a log there only once the new
    one is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        LogWriter.create(building, log)  # on disk before it replaces anything
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            path.rename(old)
        building.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def load_log(path: str | os.PathLike) -> SearchLog:
    """The log in the directory `path` (or a version 1 log file); the files are not changed."""
    path = Path(path)
    if path.is_file():
        return _load_version_1(path)
    return _read(path)[0].log


def read_checkpoint(directory: str | os.PathLike) -> tuple[SearchLog, int, dict[str, Any] | None]:
    """The log in `directory`, the sequence number of its last checkpoint and that one's
    annex; the files are not changed."""
    reader = _read(Path(directory))[0]
    return reader.log, reader.sequence, reader.done.annex


def open_log(directory: str | os.PathLike) -> tuple[SearchLog, LogWriter]:
    """Read the log in `directory` and return it with a writer that appends to it, after
    cutting off a torn last line and any vector rows no line refers to."""
    directory = Path(directory)
    reader, kept = _read(directory)
    with open(directory / CHECKPOINTS, "r+b") as handle:
        handle.truncate(kept)
    done = reader.done
    done.vectors.cut(directory)
    return reader.log, LogWriter(directory, done)


def _read(directory: Path) -> tuple[_Reader, int]:
    """The reader that applied every complete line, and the bytes those lines take.

    A write ends its line with a newline, so only text after the last newline can be torn;
    a complete line that does not check out is corruption, wherever it is.
    """
    checkpoints = directory / CHECKPOINTS
    if not checkpoints.is_file():
        raise LogError(f"{directory} holds no search log ({CHECKPOINTS} is missing)")
    complete, newline, _torn = checkpoints.read_bytes().rpartition(b"\n")
    reader, previous = _Reader(directory), b""
    for number, raw in enumerate(complete.split(b"\n") if newline else [], 1):
        if raw != previous:  # the same line twice is one checkpoint
            reader.apply(_parse(raw, checkpoints, number), number)
        previous = raw
    if reader.sequence < 0:
        raise LogError(f"{checkpoints} holds no complete checkpoint")
    reader.load_state()
    return reader, len(complete) + len(newline)


def _parse(raw: bytes, path: Path, number: int) -> dict[str, Any]:
    """The content of one complete line, checked against its checksum."""
    text = raw.decode("utf-8", errors="replace")
    cut = text.rfind(_CHECKSUM)
    body = text[:cut] + "}"
    if cut < 0 or hashlib.sha256(body.encode()).hexdigest() != text[cut + len(_CHECKSUM) : -2]:
        raise LogError(
            f"{path}: line {number} is corrupt (it does not match its checksum); the log cannot "
            "be read past it"
        )
    try:
        line = json.loads(body)
    except ValueError:
        raise LogError(
            f"{path}: line {number} is not JSON, though it matches its checksum"
        ) from None
    if not isinstance(line, dict) or line.get("format") != FORMAT:
        raise LogError(f"{path}: line {number} is not a format {FORMAT} checkpoint")
    return line


class _Reader:
    """Rebuilds a log line by line, checking the lines follow each other."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = SearchLog()
        self.done = _Written()
        self.sequence = -1

    def apply(self, line: dict[str, Any], number: int) -> None:
        where = f"{self.directory / CHECKPOINTS}: line {number}"
        sequence = line.get("sequence")
        if sequence != self.sequence + 1:
            if isinstance(sequence, int) and sequence > self.sequence + 1:
                problem = "a checkpoint before it is missing"
            elif sequence == self.sequence:
                problem = "it repeats the checkpoint before it with different content"
            else:
                problem = "checkpoints are out of order"
            raise LogError(
                f"{where} holds checkpoint {sequence}, expected {self.sequence + 1}: {problem}"
            )
        self.sequence = sequence
        try:
            self._apply(line)
        except _ChangedBlock as changed:
            raise LogError(
                f"{changed.file}: bytes {changed.start}-{changed.end} differ from those {where} "
                "appended (SHA-256 mismatch); the vectors were changed after they were written"
            ) from None
        except (LogError, ValidationError, KeyError) as error:
            raise _invalid(where, error) from error
        except (TypeError, ValueError, IndexError, AttributeError) as error:
            raise LogError(f"{where} does not fit the lines before it: {error}") from error

    def _apply(self, line: dict[str, Any]) -> None:
        log, done = self.log, self.done
        log.direction = as_direction(line.get("direction", "maximize"))  # older logs maximize
        try:
            done.vectors.follow(
                self.directory, line["dimension"], line["vectors"], line.get("blocks")
            )
        except IndexError:
            raise ValueError("it refers to more vectors than the files hold") from None
        for record in line["items"]:
            self._item(record)
        for kind in ("filter", "score"):
            for key, value in line[kind].items():
                log.remember(kind, key, _response(kind, key, value))
        for reason in line["reasons"]:
            log.reason_code(reason)
        for batch in line["batches"]:
            log.counters.iterations += 1
            nodes = [
                log.add_query(self._query(q), q.get("hits", []), q.get("reasons", []))
                for q in batch["queries"]
            ]
            log.batches.append(BatchRecord(nodes, batch["acquired"], log))
        log.history += line["history"]
        log.counters = Counters(**line["counters"])
        state = line["state"]
        done.sequence, done.journal, done.batches = (
            self.sequence,
            len(log.journal),
            len(log.batches),
        )
        done.history, done.reasons = len(log.history), len(log.reasons)
        done.state = state

    def _item(self, record: dict[str, Any]) -> None:
        log = self.log
        item = Item.trusted(
            record.get("id"),
            record.get("item"),
            self.done.vectors.vector(self.directory, record),
            record.get("data"),
            record.get("distance"),
        )
        item.score = record.get("score")
        internal: ItemInternal = item.internal
        internal.iteration, internal.query_id = record.get("iteration"), record.get("query")
        if "reason" in record:
            item.remove(record["reason"])
        key = record["key"]
        if record["kind"] == "candidate":
            log.candidates.setdefault(key, item)
            log.number(key)
            log.journal.append(("candidate", key))
        else:
            log.add_item(item, key)
        if log.number(key) != record["n"]:
            raise ValueError(f"item {key} is number {log.number(key)} here, {record['n']} there")

    def _query(self, record: dict[str, Any]) -> Query:
        return _query(record, self.done.vectors.vector(self.directory, record))

    def load_state(self) -> None:
        """Give the log the pending queries and the strategy state its last line names."""
        state = self.done.state
        assert state is not None
        path = self.directory / f"state-{state['slot']}.json"
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise LogError(f"the state {path} of the last checkpoint is missing") from None
        if hashlib.sha256(text.encode()).hexdigest()[:20] != state["digest"]:
            raise LogError(f"the state {path} is corrupt (it does not match its checksum)")
        document = json.loads(text)
        pending = document["pending"]
        self.log.pending = None if pending is None else Batch(queries=[_query(q) for q in pending])
        self.log.strategy_state = document["strategy"]
        self.done.annex = document.get("annex")


def _query(record: dict[str, Any], embedding: np.ndarray | None = None) -> Query:
    """The query a record describes (a pending one carries its exact embedding)."""
    if embedding is None:
        embedding = decode(record["embedding"])
    query = Query(
        embedding=embedding,
        item=record.get("item"),
        data=record.get("data"),
        **record.get("extra", {}),
    )
    query.internal = QueryInternal(
        id=record.get("id"),
        parent_id=record.get("parent"),
        collection_id=record.get("trajectory"),
        iteration=record.get("iteration"),
        removed="removed" in record,
        removal_reason=record.get("removed"),
    )
    return query


def _response(kind: str, key: str, value: Any) -> FilterResponse | ScoreResponse:
    """A cached answer of a line; its problems located in the line (`score.<key>.valid`)."""
    try:
        return _RESPONSES[kind].model_validate(value)
    except ValidationError as error:
        raise LogError(f"{kind}.{key}: {_problems(error)}") from None


def _invalid(where: str, error: Exception) -> LogError:
    """The one-line LogError for a line whose content is not what a checkpoint holds."""
    if isinstance(error, ValidationError):
        reason = _problems(error)
    elif isinstance(error, KeyError):
        reason = f"{error} is missing"
    else:
        reason = str(error)
    return LogError(f"{where} is not a valid checkpoint: {reason}")


def _problems(error: ValidationError) -> str:
    """A pydantic error in one line: where and what, for every problem."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors()
    )


def _with_checksum(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f'{text[:-1]}{_CHECKSUM}{digest}"}}'


def _load_version_1(path: Path) -> SearchLog:
    """A log written by emb_opt before the log directory: JSON lines of whole batches."""
    log = SearchLog()
    lines = path.read_text().splitlines()
    for number, text in enumerate(lines, 1):
        try:
            delta = json.loads(text)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the last checkpoint was cut short by a crash
            raise LogError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(delta, dict) or delta.get("version") != 1:
            raise LogError(f"{path}: line {number} is not a version 1 log line")
        try:
            _apply_version_1(log, delta)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise _invalid(f"{path}: line {number}", error) from error
    return log


def _apply_version_1(log: SearchLog, delta: dict[str, Any]) -> None:
    for kind in ("filter", "score"):
        for key, value in delta[f"{kind}_cache"].items():
            log.remember(kind, key, _response(kind, key, value))
    for batch in delta["batches"]:
        log.add_batch(Batch.model_validate(batch))
    log.history += delta["history"]
    log.counters = Counters(**delta["counters"])
    pending = delta["pending"]
    log.pending = Batch.model_validate(pending) if pending is not None else None
    log.strategy_state = delta.get("strategy")
