"""Reading a log directory back: line by line, each checked against the lines before it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..atomic import naming, write_atomically
from ..direction import as_direction
from ..schemas import Batch, Item, ItemInternal, Query
from ._format import (
    CHECKPOINTS,
    CHECKSUM,
    READABLE,
    SET_ASIDE,
    LogError,
    invalid,
    query_from,
    response,
    state_file,
)
from ._model import SearchLog
from ._v1 import load_version_1
from ._vectors import ChangedBlock
from ._writer import SIDESTEPPED, LogWriter, Written

logger = logging.getLogger(__package__)  # "emb_opt.log"
CANNOT_READ_PAST = "; the log cannot be read past it"


def load_log(path: str | os.PathLike) -> SearchLog:
    """The log in the directory `path` (or a version 1 log file, `log.json`), as `save_log` or
    a run's checkpoints wrote it; the files are not changed. Resume it with
    `Runner.search(None, n, log=loaded)`."""
    path = Path(path)
    if path.is_file():
        return load_version_1(path, SearchLog())
    return _read(path).log


def read_checkpoint(directory: str | os.PathLike) -> tuple[SearchLog, int, dict[str, Any] | None]:
    """The log in `directory`, the sequence number of its last checkpoint and that one's
    annex; the files are not changed."""
    reader = _read(Path(directory))
    return reader.log, reader.sequence, reader.done.annex


def open_log(directory: str | os.PathLike) -> tuple[SearchLog, LogWriter]:
    """The log in `directory`, with a writer that appends to it, after cutting off a torn last
    line, moving a line set aside to `set-aside.jsonl`, and removing vector rows and state
    files no line refers to."""
    directory = Path(directory)
    reader = _read(directory, writing=True)
    path, done = directory / CHECKPOINTS, reader.done
    if path.stat().st_size != reader.end:
        raise LogError(
            f"{path} changed while this command read it: another command wrote the run at "
            f"the same time ({SIDESTEPPED}); nothing was changed, run this command again"
        )
    if reader.set_aside:
        _set_aside(directory, reader)
    elif reader.end > reader.size:
        with open(path, "r+b") as handle:
            handle.truncate(reader.size)
    done.size = path.stat().st_size
    done.vectors.cut(directory)
    _drop_unnamed_states(directory, done)
    return reader.log, LogWriter(directory, done)


def _read(directory: Path, writing: bool = False) -> _Reader:
    """The reader that applied every complete line it could (see `_Reader.follow`).

    A write ends its line with a newline, so only text after the last newline can be torn.
    A state file the last line names that is missing or does not match (the writer went on
    and replaced it) is looked for again, as long as the log moves on meanwhile.
    """
    checkpoints = directory / CHECKPOINTS
    if not checkpoints.is_file():
        raise LogError(f"{directory} holds no search log ({CHECKPOINTS} is missing)")
    reader = _Reader(directory).follow(checkpoints)
    while True:
        if reader.sequence < 0:
            raise LogError(f"{checkpoints} holds no complete checkpoint")
        try:
            reader.load_state()
            break
        except LogError:
            if reader.set_aside or not reader.more(checkpoints):
                raise  # the log did not move on: the state is missing or corrupt indeed
            reader = reader.follow(checkpoints)
    if reader.set_aside:
        logger.warning(_set_aside_text(checkpoints, reader, writing))
    return reader


def _parse(raw: bytes, path: Path, number: int) -> dict[str, Any]:
    """The content of one complete line, checked against its checksum."""
    text = raw.decode("utf-8", errors="replace")
    cut = text.rfind(CHECKSUM)
    body = text[:cut] + "}"
    if cut < 0 or hashlib.sha256(body.encode()).hexdigest() != text[cut + len(CHECKSUM) : -2]:
        raise LogError(
            f"{path}: line {number} is corrupt (it does not match its checksum){CANNOT_READ_PAST}"
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

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = SearchLog()
        self.done = Written()
        self.sequence = -1
        self.lines: list[bytes] = []  # the complete lines read
        self.size = 0  # the bytes they take
        self.end = 0  # the bytes read (a torn last line's too)
        self.previous = b""  # the last line applied
        self.set_aside: dict[int, str] = {}  # line number -> why it was not applied

    def more(self, path: Path) -> bool:
        """Has the lines file grown since it was read?"""
        return path.stat().st_size > self.end

    def follow(self, path: Path) -> _Reader:
        """Apply the complete lines `path` gained since it was read. What two writers at
        once leave is set aside: a last line that is not JSON, a last line that holds a
        checkpoint number already read, or one of the last two lines when they hold the same
        checkpoint (the first that reads back is kept). The reader that read the rest is
        returned (this one or a new one). Any other line that does not read back is a
        LogError."""
        with open(path, "rb") as handle:
            handle.seek(self.size)
            data = handle.read()
        complete, newline, _torn = data.rpartition(b"\n")
        first = len(self.lines) + 1
        self.lines += complete.split(b"\n") if newline else []
        self.end = self.size + len(data)
        self.size += len(complete) + len(newline)
        self.done.vectors.read.clear()  # the vector files may have grown with the lines too
        failed = None if self.set_aside else self._take(first)
        if failed is None:
            return self
        return self._around(*failed)

    def _take(self, first: int, skip: frozenset[int] = frozenset()) -> tuple[int, LogError] | None:
        """Apply the lines from number `first` on but those in `skip`; the number of the first
        that fails, and why (None: all applied)."""
        path = self.directory / CHECKPOINTS
        for number, raw in enumerate(self.lines[first - 1 :], first):
            if number in skip or raw == self.previous:  # the same line twice is one checkpoint
                continue
            try:
                self.apply(_parse(raw, path, number), number)
            except LogError as error:
                return number, error
            self.previous = raw
        return None

    def _sequence_before(self, number: int) -> int:
        """The checkpoint number of the last line before line `number` that holds one."""
        for raw in reversed(self.lines[: number - 1]):
            sequence = _sequence_of(raw)
            if sequence is not None:
                return sequence
        return -1

    def _around(self, number: int, error: LogError) -> _Reader:
        """A new reader of the lines but those set aside around line `number`, which failed
        with `error` (a LogError unless that is one of the last lines, as `follow` says)."""
        raw = self.lines[number - 1]
        last, sequence = len(self.lines), _sequence_of(raw)
        repeats = sequence is not None and sequence <= self._sequence_before(number)
        if number == last and (repeats or _garbled(raw)):
            tries = [frozenset({number})]  # another writer's version of a checkpoint
        elif number == last - 1 and sequence == _sequence_of(self.lines[-1]) is not None:
            tries = [frozenset({number}), frozenset({number, last})]
        else:
            raise error
        why = {number: str(error).removesuffix(CANNOT_READ_PAST)}
        for skip in tries:
            again = _Reader(self.directory)
            again.lines, again.size, again.end = self.lines, self.size, self.end
            failed = again._take(1, skip)
            if failed is None:
                again.set_aside = {n: why[n] for n in sorted(skip)}
                return again
            why[failed[0]] = str(failed[1]).removesuffix(CANNOT_READ_PAST)
        raise error

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
        done.earlier_state = done.state
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
        path = self.directory / state_file(state["slot"])
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


def _garbled(raw: bytes) -> bool:
    """Is a line not JSON at all (what two writes that overlapped leave)?"""
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


def _sequence_of(raw: bytes) -> int | None:
    """The checkpoint number a line holds, if it can be told (even from a corrupt line)."""
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    sequence = line.get("sequence") if isinstance(line, dict) else None
    return sequence if isinstance(sequence, int) else None


def _set_aside_text(path: Path, reader: _Reader, writing: bool) -> str:
    """The warning for the lines `reader` set aside."""
    numbers = " and ".join(map(str, reader.set_aside))
    why = "; ".join(text.removeprefix(f"{path}: ") for text in reader.set_aside.values())
    kept = max(n for n in range(1, len(reader.lines) + 1) if n not in reader.set_aside)
    where = f"moved to {path.parent / SET_ASIDE}" if writing else "left where it is"
    return (
        f"{path}: line {numbers} set aside ({why}): two commands wrote the run at once "
        f"({SIDESTEPPED}); the run is read as of checkpoint {reader.sequence} (line {kept}), "
        f"without what line {numbers} recorded ({where})"
    )


def _set_aside(directory: Path, reader: _Reader) -> None:
    """Move the lines `reader` set aside to `set-aside.jsonl` (they are kept there, one
    after another) and write the lines file again without them."""
    path = directory / CHECKPOINTS
    aside = [reader.lines[number - 1] + b"\n" for number in reader.set_aside]
    with naming(directory / SET_ASIDE), open(directory / SET_ASIDE, "ab") as handle:
        handle.write(b"".join(aside))
        handle.flush()
        os.fsync(handle.fileno())
    kept = [raw for n, raw in enumerate(reader.lines, 1) if n not in reader.set_aside]
    write_atomically(path, "".join(raw.decode() + "\n" for raw in kept))


def _drop_unnamed_states(directory: Path, done: Written) -> None:
    """Remove the state files (and their temporary files) the last two lines do not name:
    those of lines set aside, or of a writer killed before its line."""
    named = {state_file(s["slot"]) for s in (done.state, done.earlier_state) if s is not None}
    for path in [*directory.glob("state-*.json"), *directory.glob(".state-*.tmp")]:
        if path.name not in named:
            path.unlink(missing_ok=True)
