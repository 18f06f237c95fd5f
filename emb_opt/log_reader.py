"""Reading a log directory back: line by line, each checked against the lines before it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .direction import as_direction
from .log_format import CHECKPOINTS, CHECKSUM, READABLE, LogError, invalid, query_from, response
from .log_v1 import load_version_1
from .log_vectors import ChangedBlock
from .log_writer import LogWriter, Written
from .schemas import Batch, Item, ItemInternal, Query

if TYPE_CHECKING:
    from .log import SearchLog


def load_log(path: str | os.PathLike, log: SearchLog) -> SearchLog:
    """`log` (empty) filled with the log in the directory `path` (or a version 1 log file);
    the files are not changed."""
    path = Path(path)
    if path.is_file():
        return load_version_1(path, log)
    return _read(path, log)[0].log


def read_checkpoint(
    directory: str | os.PathLike, log: SearchLog
) -> tuple[SearchLog, int, dict[str, Any] | None]:
    """`log` (empty) filled with the log in `directory`, the sequence number of its last
    checkpoint and that one's annex; the files are not changed."""
    reader = _read(Path(directory), log)[0]
    return reader.log, reader.sequence, reader.done.annex


def open_log(directory: str | os.PathLike, log: SearchLog) -> tuple[SearchLog, LogWriter]:
    """`log` (empty) filled with the log in `directory`, with a writer that appends to it,
    after cutting off a torn last line and any vector rows no line refers to."""
    directory = Path(directory)
    reader, kept = _read(directory, log)
    with open(directory / CHECKPOINTS, "r+b") as handle:
        handle.truncate(kept)
    done = reader.done
    done.vectors.cut(directory)
    return reader.log, LogWriter(directory, done)


def _read(directory: Path, log: SearchLog) -> tuple[_Reader, int]:
    """The reader that applied every complete line, and the bytes those lines take.

    A write ends its line with a newline, so only text after the last newline can be torn;
    a complete line that does not check out is corruption, wherever it is.
    """
    checkpoints = directory / CHECKPOINTS
    if not checkpoints.is_file():
        raise LogError(f"{directory} holds no search log ({CHECKPOINTS} is missing)")
    complete, newline, _torn = checkpoints.read_bytes().rpartition(b"\n")
    reader, previous = _Reader(directory, log), b""
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
    cut = text.rfind(CHECKSUM)
    body = text[:cut] + "}"
    if cut < 0 or hashlib.sha256(body.encode()).hexdigest() != text[cut + len(CHECKSUM) : -2]:
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
    if not isinstance(line, dict) or line.get("format") not in READABLE:
        formats = " or ".join(map(str, READABLE))
        raise LogError(f"{path}: line {number} is not a format {formats} checkpoint")
    return line


class _Reader:
    """Rebuilds a log line by line, checking the lines follow each other."""

    def __init__(self, directory: Path, log: SearchLog) -> None:
        self.directory = directory
        self.log = log
        self.done = Written()
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
        except ChangedBlock as changed:
            raise LogError(
                f"{changed.file}: bytes {changed.start}-{changed.end} differ from those {where} "
                "appended (SHA-256 mismatch); the vectors were changed after they were written"
            ) from None
        except (LogError, ValidationError, KeyError) as error:
            raise invalid(where, error) from error
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
                log.remember(kind, key, response(kind, key, value))
        for key, scores in line.get("replicates", {}).items():  # format 3 only
            for score in scores:
                log.add_replicate(key, score)
        for reason in line["reasons"]:
            log.reason_code(reason)
        for batch in line["batches"]:
            log.counters.iterations += 1
            nodes = [
                log.add_query(self._query(q), q.get("hits", []), q.get("reasons", []))
                for q in batch["queries"]
            ]
            log.add_record(nodes, batch["acquired"])
        log.history += line["history"]
        log.set_counters(line["counters"])
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
        return query_from(record, self.done.vectors.vector(self.directory, record))

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
        self.log.pending = (
            None if pending is None else Batch(queries=[query_from(q) for q in pending])
        )
        self.log.strategy_state = document["strategy"]
        self.done.annex = document.get("annex")
