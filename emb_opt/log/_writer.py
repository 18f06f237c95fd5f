"""Writing a log directory: checkpoints appended one line at a time, or a whole log at once."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import naming, temporary_directory, write_atomically
from ..codec import encode
from ..schemas import Query
from ._format import (
    CHECKPOINTS,
    FORMAT,
    REPLICATES_FORMAT,
    LogError,
    query_fields,
    state_file,
    with_checksum,
)
from ._vectors import VECTOR_FILES, Vectors

if TYPE_CHECKING:
    from ._model import SearchLog

SIDESTEPPED = (
    "was the run directory's lock removed, or is it on a filesystem whose locks other hosts "
    "do not see?"
)


@dataclass
class Written:
    """How much of a log a writer has put on disk."""

    sequence: int = -1
    journal: int = 0
    batches: int = 0
    history: int = 0
    reasons: int = 0
    vectors: Vectors = field(default_factory=lambda: Vectors())
    state: dict[str, str] | None = None  # the slot and digest of the last line's state
    earlier_state: dict[str, str] | None = None  # the line's before it (its file is kept too)
    annex: dict[str, Any] | None = None  # what the caller kept with the last line's state
    size: int = 0  # bytes of the lines file up to the end of the last line


class LogWriter:
    """Appends checkpoints of one `SearchLog` to a log directory.

    Each checkpoint is written before `append` returns, so a killed process loses nothing it
    checkpointed. The files are flushed to disk (fsync) at most every `sync_every` seconds,
    vectors and state before the lines, and by `sync()`: a crash of the whole machine may
    lose the checkpoints of that last interval.
    """

    def __init__(self, directory: Path, written: Written, sync_every: float = 1.0) -> None:
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
        writer = cls(directory, Written())
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
        end = self._append_line((with_checksum(text) + "\n").encode())
        self._wrote(self.directory / CHECKPOINTS)
        older = done.earlier_state
        done.sequence += 1
        done.journal, done.batches = len(log.journal), len(log.batches)
        done.history, done.reasons = len(log.history), len(log.reasons)
        done.earlier_state, done.state, done.annex, done.size = done.state, state, annex, end
        self._drop_state(older)
        if time.monotonic() - self._synced_at >= self.sync_every:
            self.sync()

    def _append_line(self, line: bytes) -> int:
        """Append `line` to the lines file where this writer's last line ended; return where
        it ends now. A LogError if another command wrote the file meanwhile (its lock was
        sidestepped): found before writing, the line is not written (the vector rows and
        state written for it are dropped by the next writer); after, the two lines conflict."""
        path = self.directory / CHECKPOINTS
        expected = self._written.size
        with naming(path):
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                if os.fstat(descriptor).st_size != expected:
                    raise LogError(
                        f"{path} changed since this command read it: another command wrote "
                        f"the run at the same time ({SIDESTEPPED}); this command's checkpoint "
                        "was not written: run it again"
                    )
                rest = memoryview(line)
                while rest:
                    rest = rest[os.write(descriptor, rest) :]
                end = os.lseek(descriptor, 0, os.SEEK_CUR)
            finally:
                os.close(descriptor)
        if end != expected + len(line):
            raise LogError(
                f"{path}: another command appended a line while this one wrote checkpoint "
                f"{self._written.sequence + 1} ({SIDESTEPPED}); the two conflict and the next "
                "command reading the run sets one aside, saying which"
            )
        return end

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
        """Write what a resumed search starts from, the pending queries (exact), the
        strategy's state and `annex`, to a file named by its digest (so no file a line names
        is ever rewritten, even by a second writer), unless it is what the last line named;
        return {"slot", "digest"}. The file is renamed into place whole."""
        pending = None if log.pending is None else [_pending(q) for q in log.pending.queries]
        document = {"strategy": log.strategy_state, "pending": pending}
        if annex is not None:
            document["annex"] = annex
        text = json.dumps(document, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()[:20]
        last = self._written.state
        if last is not None and last["digest"] == digest:
            return last
        path = self.directory / state_file(digest)
        write_atomically(path, text, sync=False)  # `sync` flushes it, then the directory
        self._wrote(path, self.directory)
        return {"slot": digest, "digest": digest}

    def _drop_state(self, older: dict[str, str] | None) -> None:
        """Remove the state file of the line before the last two (they keep theirs: a reader
        that read up to the one before the last still finds its state)."""
        kept = {s["slot"] for s in (self._written.state, self._written.earlier_state) if s}
        if older is None or older["slot"] in kept:
            return
        path = self.directory / state_file(older["slot"])
        path.unlink(missing_ok=True)
        self._unsynced.pop(path, None)


class _Line:
    """The body of one checkpoint line: what `log` gained since `done`."""

    def __init__(self, log: SearchLog, done: Written) -> None:
        self.log, self.done = log, done

    def body(self) -> dict[str, Any]:
        log, done = self.log, self.done
        caches: dict[str, dict[str, Any]] = {"filter": {}, "score": {}}
        items, replicated = [], Counter[str]()
        for kind, key in log.journal[done.journal :]:
            if kind in caches:
                caches[kind][key] = log.cache(kind)[key].model_dump(mode="json", exclude_none=True)
            elif kind == "replicate":
                replicated[key] += 1
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
        replicates = {key: log.replicates[key][-n:] for key, n in replicated.items()}
        return {
            "format": REPLICATES_FORMAT if replicates else FORMAT,
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
            **({"replicates": replicates} if replicates else {}),
        }

    def _item(self, kind: str, key: str) -> dict[str, Any]:
        log = self.log
        item = log.candidates.get(key) if kind == "candidate" else None
        item = log.items[key] if item is None else item
        internal = item.internal
        scores = log.replicates.get(key)  # an item scored more than once: its first score
        record = {
            "kind": kind,
            "n": log.number(key),
            "key": key,
            "id": item.id,
            "item": item.item,
            **self.done.vectors.reference(item.embedding),
            "score": item.score if scores is None else scores[0],
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
            **query_fields(query),
            **self.done.vectors.reference(query.embedding, exact=False),
        }
        record["hits"] = hits.tolist()
        if reasons is not None:
            record["reasons"] = reasons.tolist()
        return record


def _pending(query: Query) -> dict[str, Any]:
    """A query to resume from: its fields and its exact embedding."""
    return {**query_fields(query), "embedding": encode(np.asarray(query.embedding))}


def save_log(log: SearchLog, path: str | os.PathLike) -> None:
    """Write all of `log` to the directory `path`, replacing a log there only once the new
    one is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = temporary_directory(path.parent, prefix=f".{path.name}.")
    try:
        LogWriter.create(building, log)  # on disk before it replaces anything
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            path.rename(old)
        building.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)
